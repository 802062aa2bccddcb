import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { E, digestHex, isCongaError } from '@conga/common';
import { sweepDeadPidDirs } from './process-dirs';

/**
 * Rules that abort a download which hangs or trickles (daemon.json pull-no-progress-timeout,
 * pull-min-bytes-per-second over pull-throughput-window). `fail` builds the error (it knows the
 * registry and the blob); such a failure is final, not resumed: a registry that stalls once
 * usually stalls again, and the user asked for a bound on how long a pull may hang.
 */
export interface DownloadWatch {
  noProgressMs: number;
  /** 0: no throughput rule. */
  minBytesPerSecond: number;
  windowMs: number;
  fail: (detail: string) => Error;
}

/**
 * Check a download's progress a few times per rule period; `received` counts every byte that
 * arrived (resumed attempts included). Returns a stop function.
 */
function watchDownload(w: DownloadWatch, received: () => number, abort: (e: Error) => void): () => void {
  const start = Date.now();
  let last = received();
  let lastAt = start;
  // (time, bytes received so far) samples covering at least the last window.
  const samples: Array<[number, number]> = [[start, last]];
  const period = Math.max(20, Math.min(1000, Math.min(w.noProgressMs, w.windowMs) / 5));
  const timer = setInterval(() => {
    const now = Date.now();
    const got = received();
    if (got !== last) {
      last = got;
      lastAt = now;
    } else if (now - lastAt >= w.noProgressMs) {
      return abort(w.fail(`received nothing for ${(now - lastAt) / 1000} s (pull-no-progress-timeout is ${w.noProgressMs / 1000} s)`));
    }
    samples.push([now, got]);
    while (samples.length > 1 && samples[1][0] <= now - w.windowMs) samples.shift();
    const [t0, n0] = samples[0];
    if (w.minBytesPerSecond > 0 && now - start >= w.windowMs && now - t0 >= w.windowMs) {
      const rate = ((got - n0) * 1000) / (now - t0);
      if (rate < w.minBytesPerSecond) {
        abort(w.fail(`ran at ${Math.round(rate)} bytes/s over the last ${w.windowMs / 1000} s, below pull-min-bytes-per-second ${w.minBytesPerSecond}`));
      }
    }
  }, period);
  return () => clearInterval(timer);
}

/**
 * Content-addressed blob store: `<dir>/blobs/sha256/<hex>`, downloads staged in
 * `<dir>/ingest/<pid>/` (several image-service processes share one store in split mode, each
 * with its own staging dir). A blob appears under blobs/ only after its sha256 (and size) was
 * verified. Owned by the image service; internal to libs/image (the blob path layout is read by
 * the storage service via blob_path).
 */
export class ContentStore {
  readonly blobDir: string;
  /** This process's staging dir. */
  readonly ingestDir: string;
  private readonly ingestRoot: string;

  constructor(readonly dir: string) {
    this.blobDir = join(dir, 'blobs', 'sha256');
    this.ingestRoot = join(dir, 'ingest');
    this.ingestDir = join(this.ingestRoot, String(process.pid));
  }

  /**
   * Create the dirs and drop staging files left by crashed processes. The staging dirs of live
   * processes (other workers downloading right now) are left alone.
   */
  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    await mkdir(this.ingestRoot, { recursive: true, mode: 0o700 });
    sweepDeadPidDirs(this.ingestRoot);
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

  /**
   * Read a (small) blob, re-hashing it: a blob damaged on disk is removed and reported
   * (BlobCorrupt) instead of being pushed, saved or parsed.
   */
  async read(digest: string, what = `blob ${digest}`): Promise<Buffer> {
    const data = await readFile(this.path(digest));
    const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (actual !== digest) {
      await this.remove(digest);
      throw E.BlobCorrupt(what, digest, actual);
    }
    return data;
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
   * into place. With a size, the download is aborted as soon as more bytes arrive than it
   * allows (BlobSizeExceeded). On any failure the ingest file is removed and nothing is stored.
   */
  async ingest(
    src: Readable,
    digest: string,
    opts: { size?: number; what: string; onBytes?: (n: number) => void; signal?: AbortSignal },
  ): Promise<string> {
    return this.ingestResumable(async () => ({ stream: src, offset: 0 }), digest, { ...opts, maxResumes: 0 });
  }

  /**
   * Like {@link ingest}, but when the source breaks off mid-way `open(n)` is called again to
   * continue from byte n (HTTP Range); a source that restarts at 0 is accepted too (the file and
   * the hash start over). At most `maxResumes` (default 5) reopenings.
   */
  async ingestResumable(
    open: (offset: number, signal?: AbortSignal) => Promise<{ stream: Readable; offset: number }>,
    digest: string,
    opts: {
      size?: number; what: string; onBytes?: (n: number) => void; signal?: AbortSignal; maxResumes?: number;
      onResume?: (offset: number, err: unknown) => void; watch?: DownloadWatch;
      /** Every chunk as it arrives, with its offset (a resumed source repeats offsets); a promise returned holds the download until it settles. */
      onChunk?: (chunk: Buffer, offset: number) => Promise<void> | undefined;
    },
  ): Promise<string> {
    const dest = this.path(digest);
    const size = opts.size;
    if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
      throw E.InvalidArgument(`the expected size of ${opts.what} must be a non-negative integer, not ${size}`);
    }
    const tmp = join(this.ingestDir, randomBytes(12).toString('hex'));
    let hash = createHash('sha256');
    let n = 0;
    const maxResumes = opts.maxResumes ?? 5;
    let received = 0;
    let current: Transform | undefined;
    let stopped: Error | undefined;
    // Aborts a request still waiting for its answer when a watch rule fires.
    const ac = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
    // A blob smaller than one window's worth of the minimum rate (a config, a tiny layer) cannot
    // trickle for long: only the no-progress rule applies to it, so a busy host's scheduling
    // delay on a 1 KB download is not mistaken for a slow registry.
    const watch =
      opts.watch && size !== undefined && opts.watch.minBytesPerSecond > 0 && size <= (opts.watch.minBytesPerSecond * opts.watch.windowMs) / 1000
        ? { ...opts.watch, minBytesPerSecond: 0 }
        : opts.watch;
    const stopWatch = watch
      ? watchDownload(watch, () => received, (e) => {
          stopped ??= e;
          current?.destroy(e);
          ac.abort(e);
        })
      : undefined;
    try {
      await mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
      for (let attempt = 0; ; attempt++) {
        const { stream, offset } = await open(n, signal).catch((e: unknown) => {
          throw stopped ?? e;
        });
        if (stopped) {
          stream.destroy();
          throw stopped;
        }
        if (offset !== n) {
          // The source started over: so do we.
          hash = createHash('sha256');
          n = 0;
        }
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            // Never write past the declared size: a hostile registry could otherwise fill the disk.
            if (size !== undefined && n + chunk.length > size) return cb(E.BlobSizeExceeded(opts.what, size));
            hash.update(chunk);
            const hold = opts.onChunk?.(chunk, n);
            n += chunk.length;
            received += chunk.length;
            opts.onBytes?.(n);
            if (hold) hold.then(() => cb(null, chunk), cb);
            else cb(null, chunk);
          },
        });
        current = counter;
        // Write at offset n (not "append"): whatever a broken attempt left past n is overwritten,
        // and the file is cut to n bytes before it is verified.
        const ws = createWriteStream(tmp, { mode: 0o600, flags: n === 0 ? 'w' : 'r+', start: n });
        try {
          await pipeline(stream, counter, ws, opts.signal ? { signal: opts.signal } : {});
          await truncate(tmp, n);
          break;
        } catch (e) {
          (stream as Readable & { destroy?: () => void }).destroy?.();
          // pipeline() can reject before the file stream has flushed its last write: wait for it.
          if (!ws.closed) await new Promise<void>((r) => ws.once('close', () => r()));
          if (stopped) throw stopped;
          if (opts.signal?.aborted || attempt >= maxResumes || (isCongaError(e) && !E.RegistryUnreachable.is(e))) throw e;
          // Bytes that passed the hash may not have reached the file: continue from what is on
          // disk, with the hash recomputed from exactly those bytes.
          n = await stat(tmp).then((st) => st.size, () => 0);
          hash = createHash('sha256');
          if (n > 0) {
            const h = hash;
            await pipeline(createReadStream(tmp, { start: 0, end: n - 1 }), new Transform({ transform(c: Buffer, _e, cb) { h.update(c); cb(); } }));
          }
          if (size !== undefined && n >= size) throw e;
          opts.onResume?.(n, e);
        }
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (size !== undefined && n !== size) {
        throw E.DigestMismatch(`${opts.what} (${n} bytes, expected ${size})`, digest, actual);
      }
      if (actual !== digest) throw E.DigestMismatch(opts.what, digest, actual);
      await rename(tmp, dest);
      return dest;
    } finally {
      stopWatch?.();
      await rm(tmp, { force: true });
    }
  }

  /**
   * Move a file (on this file system, e.g. under ingest/) into the store under its sha256, which is
   * computed here; when `expected` is given a mismatch fails and the file is removed. Returns the digest.
   */
  async adopt(file: string, what: string, expected?: string): Promise<string> {
    const hash = createHash('sha256');
    await pipeline(createReadStream(file), new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); cb(); } }));
    const digest = `sha256:${hash.digest('hex')}`;
    try {
      if (expected && expected !== digest) throw E.DigestMismatch(what, expected, digest);
      if (!(await this.has(digest))) await rename(file, this.path(digest));
      return digest;
    } finally {
      await rm(file, { force: true });
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
