import Database from 'better-sqlite3';

/** A layer row (chain IDs are "sha256:<hex>"; parent "" for a base layer). */
export interface LayerRow {
  chainId: string;
  parent: string;
  diffId: string;
  size: number;
}

/** A rootfs row (chainId "" for an empty rootfs). */
export interface RootfsRow {
  containerId: string;
  chainId: string;
}

/**
 * Storage metadata in SQLite (<dir>/storage.db, WAL): layers and rootfs. All calls are
 * synchronous, so a check followed by a write in one call cannot interleave with another
 * request. Internal to libs/storage; the schema may change (owner: storage).
 */
export class StorageDb {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS layers (
        chain_id   TEXT PRIMARY KEY,
        parent     TEXT NOT NULL,
        diff_id    TEXT NOT NULL,
        size       INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS layers_parent ON layers(parent);
      CREATE TABLE IF NOT EXISTS rootfs (
        container_id TEXT PRIMARY KEY,
        chain_id     TEXT NOT NULL,
        created_at   INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS rootfs_chain ON rootfs(chain_id);
    `);
  }

  getLayer(chainId: string): LayerRow | undefined {
    return this.db
      .prepare('SELECT chain_id AS chainId, parent, diff_id AS diffId, size FROM layers WHERE chain_id = ?')
      .get(chainId) as LayerRow | undefined;
  }

  listLayers(): LayerRow[] {
    return this.db.prepare('SELECT chain_id AS chainId, parent, diff_id AS diffId, size FROM layers ORDER BY created_at, chain_id').all() as LayerRow[];
  }

  insertLayer(row: LayerRow): void {
    this.db
      .prepare('INSERT INTO layers (chain_id, parent, diff_id, size, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(row.chainId, row.parent, row.diffId, row.size, Date.now());
  }

  deleteLayer(chainId: string): void {
    this.db.prepare('DELETE FROM layers WHERE chain_id = ?').run(chainId);
  }

  /** One child layer of `chainId`, if any. */
  childOf(chainId: string): string | undefined {
    const r = this.db.prepare('SELECT chain_id AS c FROM layers WHERE parent = ? LIMIT 1').get(chainId) as { c: string } | undefined;
    return r?.c;
  }

  /** One container whose rootfs sits on `chainId`, if any. */
  rootfsOn(chainId: string): string | undefined {
    const r = this.db.prepare('SELECT container_id AS c FROM rootfs WHERE chain_id = ? LIMIT 1').get(chainId) as { c: string } | undefined;
    return r?.c;
  }

  getRootfs(containerId: string): RootfsRow | undefined {
    return this.db.prepare('SELECT container_id AS containerId, chain_id AS chainId FROM rootfs WHERE container_id = ?').get(containerId) as RootfsRow | undefined;
  }

  listRootfs(): RootfsRow[] {
    return this.db.prepare('SELECT container_id AS containerId, chain_id AS chainId FROM rootfs ORDER BY created_at, container_id').all() as RootfsRow[];
  }

  insertRootfs(row: RootfsRow): void {
    this.db.prepare('INSERT INTO rootfs (container_id, chain_id, created_at) VALUES (?, ?, ?)').run(row.containerId, row.chainId, Date.now());
  }

  deleteRootfs(containerId: string): void {
    this.db.prepare('DELETE FROM rootfs WHERE container_id = ?').run(containerId);
  }

  /** Run `fn` in one transaction. */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
