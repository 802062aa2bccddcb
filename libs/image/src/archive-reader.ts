import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { E } from '@conga/common';
import { decompressor, sniffCompression } from '@conga/storage/src/decompress';

const MAX_ENTRIES = 100_000;

/**
 * An image archive (docker-archive or OCI layout tar) unpacked into a private temp dir. Only
 * regular files and directories are written; symlinks (old docker-archives link shared layers)
 * are remembered and resolved inside the archive, never created on disk. Names with "..", absolute
 * names and other entry types are refused. Internal to libs/image.
 */
export class ArchiveDir {
  private constructor(
    readonly root: string,
    private readonly files: Set<string>,
    private readonly links: Map<string, string>,
    private readonly what: string,
  ) {}

  /** Unpack `archive` (plain or gzip/zstd-compressed tar) under `tmpParent`. */
  static async open(archive: string, tmpParent: string, what: string): Promise<ArchiveDir> {
    try {
      const st = await stat(archive);
      if (!st.isFile()) throw new Error('not a regular file');
    } catch (e) {
      throw E.ImageArchiveInvalid(what, `cannot read it: ${(e as Error).message}`);
    }
    await mkdir(tmpParent, { recursive: true, mode: 0o700 });
    const root = await mkdtemp(join(tmpParent, 'archive-'));
    const files = new Set<string>();
    const links = new Map<string, string>();
    try {
      const dz = decompressor(await sniffCompression(archive));
      const ex = tarExtract();
      let count = 0;
      ex.on('entry', (h, stream, next) => {
        // The extract stream reports errors; an entry destroyed along with it must not throw too.
        stream.on('error', () => {});
        const fail = (why: string) => {
          stream.resume();
          next(E.ImageArchiveInvalid(what, `entry "${h.name}": ${why}`));
        };
        if (++count > MAX_ENTRIES) return fail(`more than ${MAX_ENTRIES} entries`);
        const name = posix.normalize(h.name).replace(/^\.\/+/, '').replace(/\/+$/, '');
        if (name === '' || name === '.') {
          stream.resume();
          return next();
        }
        if (h.name.startsWith('/') || name.split('/').includes('..')) return fail('the name leaves the archive');
        if (h.type === 'directory') {
          stream.resume();
          mkdir(join(root, name), { recursive: true, mode: 0o700 }).then(() => next(), next);
          return;
        }
        if (h.type === 'symlink') {
          stream.resume();
          links.set(name, posix.normalize(posix.join(posix.dirname(name), h.linkname ?? '')));
          return next();
        }
        if (h.type !== 'file' && h.type !== 'contiguous-file') return fail(`entries of type ${h.type} are not allowed in an image archive`);
        const dest = join(root, name);
        mkdir(dirname(dest), { recursive: true, mode: 0o700 })
          .then(() => pipeline(stream, createWriteStream(dest, { mode: 0o600 })))
          .then(() => {
            files.add(name);
            next();
          }, next);
      });
      const src = createReadStream(archive);
      await (dz ? pipeline(src, dz, ex) : pipeline(src, ex));
    } catch (e) {
      await rm(root, { recursive: true, force: true });
      if (E.ImageArchiveInvalid.is(e)) throw e;
      throw E.ImageArchiveInvalid(what, `the tar stream is corrupt or truncated: ${(e as Error).message}`);
    }
    return new ArchiveDir(root, files, links, what);
  }

  /** The real file for an archive path (symlinks followed inside the archive), or undefined. */
  resolve(name: string): string | undefined {
    let n = posix.normalize(name).replace(/^\.\/+/, '');
    for (let hop = 0; hop < 16; hop++) {
      if (n.startsWith('/') || n.split('/').includes('..')) return undefined;
      if (this.files.has(n)) return join(this.root, n);
      const t = this.links.get(n);
      if (t === undefined) return undefined;
      n = t;
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  /** Read a small file (JSON documents) with a size cap. */
  async read(name: string, max = 16 << 20): Promise<Buffer> {
    const p = this.resolve(name);
    if (!p) throw E.ImageArchiveInvalid(this.what, `"${name}" is missing from the archive`);
    if ((await stat(p)).size > max) throw E.ImageArchiveInvalid(this.what, `"${name}" is larger than ${max} bytes`);
    return readFile(p);
  }

  /** Parse a JSON file of the archive. */
  async json<T>(name: string): Promise<T> {
    const b = await this.read(name);
    try {
      return JSON.parse(b.toString('utf8')) as T;
    } catch (e) {
      throw E.ImageArchiveInvalid(this.what, `"${name}" is not valid JSON: ${(e as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}
