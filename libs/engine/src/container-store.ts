import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { E } from '@conga/common';
import type { ContainerRecord, ContainerState } from './container-types';

/**
 * Container metadata in SQLite (`<root>/engine/containers.db`, WAL). The name column is UNIQUE:
 * of concurrent creates with one name exactly one wins. Owned by congad.
 */
export class ContainerStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.db = new Database(join(dir, 'containers.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS containers (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      created TEXT NOT NULL,
      record TEXT NOT NULL
    )`);
    this.stmts = {
      insert: this.db.prepare('INSERT INTO containers (id, name, created, record) VALUES (?, ?, ?, ?)'),
      update: this.db.prepare('UPDATE containers SET record = ?, name = ? WHERE id = ?'),
      remove: this.db.prepare('DELETE FROM containers WHERE id = ?'),
      byId: this.db.prepare('SELECT record FROM containers WHERE id = ?'),
      byName: this.db.prepare('SELECT record FROM containers WHERE name = ?'),
      byPrefix: this.db.prepare("SELECT record FROM containers WHERE id LIKE ? || '%' LIMIT 2"),
      all: this.db.prepare('SELECT record FROM containers ORDER BY created DESC'),
      nameOwner: this.db.prepare('SELECT id FROM containers WHERE name = ?'),
    };
  }

  /** Insert a new record; a taken name fails with ContainerNameInUse. */
  insert(c: ContainerRecord): void {
    try {
      this.stmts.insert.run(c.Id, c.Name, c.Created, JSON.stringify(c));
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const owner = this.stmts.nameOwner.get(c.Name) as { id: string } | undefined;
        throw E.ContainerNameInUse(c.Name, owner?.id ?? '');
      }
      throw e;
    }
  }

  save(c: ContainerRecord): void {
    this.stmts.update.run(JSON.stringify(c), c.Name, c.Id);
  }

  /** Change the name; a taken name fails with ContainerNameInUse and changes nothing. */
  rename(c: ContainerRecord, name: string): void {
    const next = { ...c, Name: name };
    try {
      this.stmts.update.run(JSON.stringify(next), name, c.Id);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const owner = this.stmts.nameOwner.get(name) as { id: string } | undefined;
        throw E.ContainerNameInUse(name, owner?.id ?? '');
      }
      throw e;
    }
    c.Name = name;
  }

  setState(c: ContainerRecord, state: Partial<ContainerState>): ContainerRecord {
    c.State = { ...c.State, ...state };
    this.save(c);
    return c;
  }

  remove(id: string): void {
    this.stmts.remove.run(id);
  }

  get(id: string): ContainerRecord | undefined {
    const row = this.stmts.byId.get(id) as { record: string } | undefined;
    return row ? JSON.parse(row.record) : undefined;
  }

  /** Find by full id, exact name (with or without a leading "/"), or unique id prefix. */
  find(idOrName: string): ContainerRecord {
    const key = idOrName.startsWith('/') ? idOrName.slice(1) : idOrName;
    const direct = (this.stmts.byId.get(key) ?? this.stmts.byName.get(key)) as { record: string } | undefined;
    if (direct) return JSON.parse(direct.record);
    if (/^[a-f0-9]{1,63}$/.test(key)) {
      const rows = this.stmts.byPrefix.all(key) as { record: string }[];
      if (rows.length === 1) return JSON.parse(rows[0].record);
      if (rows.length > 1) throw E.AmbiguousId(key);
    }
    throw E.ContainerNotFound(idOrName);
  }

  list(): ContainerRecord[] {
    return (this.stmts.all.all() as { record: string }[]).map((r) => JSON.parse(r.record));
  }

  close(): void {
    this.db.close();
  }
}
