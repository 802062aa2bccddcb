import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { E } from '@conga/common';
import type { PodSandboxConfig__Output } from '@conga/api/src/generated/runtime/v1/PodSandboxConfig';

/**
 * One CRI pod sandbox as Conga keeps it. The namespace paths are the pinned nsfs files (null:
 * the host's namespace); `ip`/`ips` come from CNI. `config` is kubelet's request, kept whole
 * for PodSandboxStatus verbose info and for the containers created in the pod.
 */
export interface PodRecord {
  id: string;
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
  state: 'ready' | 'notready';
  /** Nanoseconds since the epoch (CRI's timestamp unit). */
  createdAt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  config: PodSandboxConfig__Output;
  runtimeHandler: string;
  netnsPath: string | null;
  ipcPath: string | null;
  utsPath: string | null;
  /** pod: containers share one pid namespace; container: each its own; host: the host's. */
  pidMode: 'pod' | 'container' | 'host';
  cgroupParent: string;
  /** The pod's /dev/shm directory (a tmpfs); '' when the pod uses the host's IPC. */
  shmPath: string;
  hostname: string;
  ip: string;
  ips: string[];
  logDirectory: string;
}

/** The key kubelet uses to tell pods apart: one sandbox per name/uid/namespace/attempt. */
export const podKey = (p: Pick<PodRecord, 'name' | 'uid' | 'namespace' | 'attempt'>): string => `${p.name}_${p.namespace}_${p.uid}_${p.attempt}`;

/**
 * Pod records in SQLite (`<root>/cri/pods.db`, WAL). The key column is UNIQUE, so of two
 * concurrent RunPodSandbox calls for one pod attempt exactly one reserves it.
 */
export class PodStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.db = new Database(join(dir, 'pods.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS pods (
      id TEXT PRIMARY KEY,
      key TEXT NOT NULL UNIQUE,
      record TEXT NOT NULL
    )`);
    this.stmts = {
      insert: this.db.prepare('INSERT INTO pods (id, key, record) VALUES (?, ?, ?)'),
      update: this.db.prepare('UPDATE pods SET record = ? WHERE id = ?'),
      remove: this.db.prepare('DELETE FROM pods WHERE id = ?'),
      byId: this.db.prepare('SELECT record FROM pods WHERE id = ?'),
      byPrefix: this.db.prepare("SELECT record FROM pods WHERE id LIKE ? || '%' LIMIT 2"),
      keyOwner: this.db.prepare('SELECT id FROM pods WHERE key = ?'),
      all: this.db.prepare('SELECT record FROM pods'),
    };
  }

  /** Reserve a pod attempt; a taken one fails with AlreadyExists naming its owner. */
  insert(p: PodRecord): void {
    try {
      this.stmts.insert.run(p.id, podKey(p), JSON.stringify(p));
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const owner = this.stmts.keyOwner.get(podKey(p)) as { id: string } | undefined;
        throw E.CriPodNameReserved(podKey(p), owner?.id ?? '');
      }
      throw e;
    }
  }

  save(p: PodRecord): void {
    this.stmts.update.run(JSON.stringify(p), p.id);
  }

  remove(id: string): void {
    this.stmts.remove.run(id);
  }

  /** A pod by full id or unique id prefix (crictl passes prefixes). */
  find(idOrPrefix: string): PodRecord | undefined {
    const exact = this.stmts.byId.get(idOrPrefix) as { record: string } | undefined;
    if (exact) return JSON.parse(exact.record);
    if (!/^[0-9a-f]{1,63}$/.test(idOrPrefix)) return undefined;
    const rows = this.stmts.byPrefix.all(idOrPrefix) as Array<{ record: string }>;
    return rows.length === 1 ? JSON.parse(rows[0].record) : undefined;
  }

  /** Exact id only (the engine's orphan reaper asks about every resource id). */
  has(id: string): boolean {
    return this.stmts.byId.get(id) !== undefined;
  }

  list(): PodRecord[] {
    return (this.stmts.all.all() as Array<{ record: string }>).map((r) => JSON.parse(r.record));
  }

  close(): void {
    this.db.close();
  }
}
