import Database from 'better-sqlite3';
import { join } from 'node:path';

/** One image's metadata as stored. Owned by the image service; internal to libs/image. */
export interface ImageRecord {
  id: string;
  configJson: string;
  manifestDigest: string;
  diffIds: string[];
  chainIds: string[];
  size: number;
  created: string;
  os: string;
  architecture: string;
  variant: string;
  /** Every content-store blob this image references (manifests, config, layers). */
  blobs: string[];
}

/** A reference row: normalized reference string → image id. */
export interface RefRow {
  ref: string;
  imageId: string;
}

interface ImageRow {
  id: string;
  config_json: string;
  manifest_digest: string;
  diff_ids: string;
  chain_ids: string;
  size: number;
  created: string;
  os: string;
  architecture: string;
  variant: string;
}

/**
 * Image metadata in SQLite (`<dir>/images.db`, WAL): images, tags (normalized `name:tag` → id),
 * digests (normalized `name@digest` → id) and image_blobs (which blobs each image references).
 */
export class ImageStore {
  private readonly db: Database.Database;

  constructor(dir: string) {
    this.db = new Database(join(dir, 'images.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS images (
        id TEXT PRIMARY KEY,
        config_json TEXT NOT NULL,
        manifest_digest TEXT NOT NULL,
        diff_ids TEXT NOT NULL,
        chain_ids TEXT NOT NULL,
        size INTEGER NOT NULL,
        created TEXT NOT NULL,
        os TEXT NOT NULL,
        architecture TEXT NOT NULL,
        variant TEXT NOT NULL,
        added_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS tags (ref TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
      CREATE TABLE IF NOT EXISTS digests (ref TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
      CREATE TABLE IF NOT EXISTS image_blobs (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        PRIMARY KEY (image_id, digest)
      );
      CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
      CREATE INDEX IF NOT EXISTS digests_image ON digests(image_id);
      CREATE INDEX IF NOT EXISTS image_blobs_digest ON image_blobs(digest);
    `);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private toRecord(r: ImageRow): Omit<ImageRecord, 'blobs'> {
    return {
      id: r.id,
      configJson: r.config_json,
      manifestDigest: r.manifest_digest,
      diffIds: JSON.parse(r.diff_ids) as string[],
      chainIds: JSON.parse(r.chain_ids) as string[],
      size: r.size,
      created: r.created,
      os: r.os,
      architecture: r.architecture,
      variant: r.variant,
    };
  }

  get(id: string): Omit<ImageRecord, 'blobs'> | undefined {
    const r = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return r && this.toRecord(r);
  }

  list(): Array<Omit<ImageRecord, 'blobs'>> {
    return (this.db.prepare('SELECT * FROM images ORDER BY added_at DESC, id').all() as ImageRow[]).map((r) => this.toRecord(r));
  }

  /** Image ids starting with `hexPrefix` (at most `limit`). */
  byPrefix(hexPrefix: string, limit = 2): string[] {
    const rows = this.db
      .prepare("SELECT id FROM images WHERE substr(id, 8, ?) = ? LIMIT ?")
      .all(hexPrefix.length, hexPrefix, limit) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  tag(ref: string): string | undefined {
    return (this.db.prepare('SELECT image_id FROM tags WHERE ref = ?').get(ref) as { image_id: string } | undefined)?.image_id;
  }

  digestRef(ref: string): string | undefined {
    return (this.db.prepare('SELECT image_id FROM digests WHERE ref = ?').get(ref) as { image_id: string } | undefined)?.image_id;
  }

  tagsOf(id: string): string[] {
    return (this.db.prepare('SELECT ref FROM tags WHERE image_id = ? ORDER BY ref').all(id) as Array<{ ref: string }>).map((r) => r.ref);
  }

  digestsOf(id: string): string[] {
    return (this.db.prepare('SELECT ref FROM digests WHERE image_id = ? ORDER BY ref').all(id) as Array<{ ref: string }>).map((r) => r.ref);
  }

  /** Chain ids used by images other than `exceptId`. */
  chainIdsInUse(exceptId: string): Set<string> {
    const rows = this.db.prepare('SELECT chain_ids FROM images WHERE id != ?').all(exceptId) as Array<{ chain_ids: string }>;
    return new Set(rows.flatMap((r) => JSON.parse(r.chain_ids) as string[]));
  }

  /** Blobs referenced by `id` and by no other image. */
  blobsOnlyOf(id: string): string[] {
    return (
      this.db
        .prepare('SELECT digest FROM image_blobs b WHERE image_id = ? AND NOT EXISTS (SELECT 1 FROM image_blobs o WHERE o.digest = b.digest AND o.image_id != b.image_id)')
        .all(id) as Array<{ digest: string }>
    ).map((r) => r.digest);
  }

  /** Every blob `id` references. */
  blobsOf(id: string): string[] {
    return (this.db.prepare('SELECT digest FROM image_blobs WHERE image_id = ?').all(id) as Array<{ digest: string }>).map((r) => r.digest);
  }

  /** Point a tag at an image (moving it from another image if needed). */
  setTag(ref: string, id: string): void {
    this.db.prepare('INSERT INTO tags (ref, image_id) VALUES (?, ?) ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id').run(ref, id);
  }

  /** Point a digest reference at an image. */
  setDigest(ref: string, id: string): void {
    this.db.prepare('INSERT INTO digests (ref, image_id) VALUES (?, ?) ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id').run(ref, id);
  }

  /** Tags (normalized) of every image: used by push without a tag. */
  allTags(): RefRow[] {
    return (this.db.prepare('SELECT ref, image_id FROM tags ORDER BY ref').all() as Array<{ ref: string; image_id: string }>).map((r) => ({ ref: r.ref, imageId: r.image_id }));
  }

  /** True when any image references the blob. */
  blobReferenced(digest: string): boolean {
    return this.db.prepare('SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1').get(digest) !== undefined;
  }

  /**
   * Insert (or refresh) an image and point `tagRef`/`digestRef` at it, in one transaction.
   * Returns the image id the tag pointed to before (undefined if none).
   */
  commit(rec: ImageRecord, tagRef: string | undefined, digestRefStr: string | undefined): { previousTagTarget?: string } {
    const tx = this.db.transaction(() => {
      const previousTagTarget = tagRef ? this.tag(tagRef) : undefined;
      this.db
        .prepare(
          `INSERT INTO images (id, config_json, manifest_digest, diff_ids, chain_ids, size, created, os, architecture, variant, added_at)
           VALUES (@id, @config_json, @manifest_digest, @diff_ids, @chain_ids, @size, @created, @os, @architecture, @variant, @added_at)
           ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest, size = excluded.size`,
        )
        .run({
          id: rec.id,
          config_json: rec.configJson,
          manifest_digest: rec.manifestDigest,
          diff_ids: JSON.stringify(rec.diffIds),
          chain_ids: JSON.stringify(rec.chainIds),
          size: rec.size,
          created: rec.created,
          os: rec.os,
          architecture: rec.architecture,
          variant: rec.variant,
          added_at: Date.now(),
        });
      const addBlob = this.db.prepare('INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)');
      for (const b of rec.blobs) addBlob.run(rec.id, b);
      if (tagRef) this.db.prepare('INSERT INTO tags (ref, image_id) VALUES (?, ?) ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id').run(tagRef, rec.id);
      if (digestRefStr) this.db.prepare('INSERT INTO digests (ref, image_id) VALUES (?, ?) ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id').run(digestRefStr, rec.id);
      return { previousTagTarget };
    });
    return tx();
  }

  untag(ref: string): boolean {
    return this.db.prepare('DELETE FROM tags WHERE ref = ?').run(ref).changes > 0;
  }

  undigest(ref: string): boolean {
    return this.db.prepare('DELETE FROM digests WHERE ref = ?').run(ref).changes > 0;
  }

  /** Remove the image row and everything pointing at it (one transaction). */
  remove(id: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM tags WHERE image_id = ?').run(id);
      this.db.prepare('DELETE FROM digests WHERE image_id = ?').run(id);
      this.db.prepare('DELETE FROM image_blobs WHERE image_id = ?').run(id);
      this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
    })();
  }

  /** Run `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
