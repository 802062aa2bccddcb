import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { E, digestHex } from '@conga/common';

/**
 * Content-addressed blob store: `<dir>/blobs/sha256/<hex>`, downloads staged in `<dir>/ingest/`.
 * A blob appears under blobs/ only after its sha256 was verified. Owned by the image service;
 * internal to libs/image (the blob path layout is read by the storage service via blob_path).
 */
export class ContentStore {
  readonly blobDir: string;
  readonly ingestDir: string;

  constructor(readonly dir: string) {
    this.blobDir = join(dir, 'blobs', 'sha256');
    this.ingestDir = join(dir, 'ingest');
  }

  /** Create the dirs and drop ingest files left by a crash. */
  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    await rm(this.ingestDir, { recursive: true, force: true });
    await mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  /** Absolute path of a blob (digest validated first). */
  path(digest: string): string {
    return join(this.blobDir, digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  async read(digest: string): Promise<Buffer> {
    return readFile(this.path(digest));
  }

  /** Store bytes already in memory after checking their digest. */
  async put(digest: string, data: Buffer, what: string): Promise<string> {
    const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (actual !== digest) throw E.DigestMismatch(what, digest, actual);
    const dest = this.path(digest);
    if (await this.has(digest)) return dest;
    const tmp = join(this.ingestDir, randomBytes(12).toString('hex'));
    try {
      await writeFile(tmp, data, { mode: 0o600 });
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { force: true });
    }
    return dest;
  }

  /**
   * Write a stream into ingest/ while hashing, verify sha256 (and size when given), then rename
   * into place. On any failure the ingest file is removed and nothing is stored.
   */
  async ingest(
    src: Readable,
    digest: string,
    opts: { size?: number; what: string; onBytes?: (n: number) => void; signal?: AbortSignal },
  ): Promise<string> {
    const dest = this.path(digest);
    const tmp = join(this.ingestDir, randomBytes(12).toString('hex'));
    const hash = createHash('sha256');
    let n = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        n += chunk.length;
        opts.onBytes?.(n);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(src, counter, createWriteStream(tmp, { mode: 0o600 }), opts.signal ? { signal: opts.signal } : {});
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) throw E.DigestMismatch(opts.what, digest, actual);
      if (opts.size !== undefined && opts.size > 0 && n !== opts.size) {
        throw E.DigestMismatch(`${opts.what} (size ${n}, expected ${opts.size})`, digest, actual);
      }
      await rename(tmp, dest);
      return dest;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Remove a blob (missing is fine). */
  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Names of files currently in ingest/ (tests use it to check nothing was left behind). */
  async ingestFiles(): Promise<string[]> {
    return readdir(this.ingestDir).catch(() => []);
  }
}
