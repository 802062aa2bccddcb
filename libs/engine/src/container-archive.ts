/**
 * docker cp on the engine side: stat a path, tar a path out of a container, and unpack a tar
 * into it (Engine API HEAD/GET/PUT /containers/{id}/archive). Owner: engine (cp/archive).
 * Every access goes through {@link ScopedRoot}, so no path, symlink or race in the container
 * can make us read or write outside its root (CVE-2018-15664). Nothing from the container is
 * executed or loaded here (CVE-2019-14271): tar is produced and read in this process.
 */
import { createReadStream, createWriteStream, promises as fsp, type Stats } from 'node:fs';
import * as fs from 'node:fs';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import { extract as tarExtract, pack as tarPack, type Header, type Pack } from 'tar-stream';

type Headers = Partial<Header> & { name: string };
import { E, isCongaError } from '@conga/common';
import {
  ScopedRoot, closeQuietly, components, createFileAt, fdPath, lstatAt, mkdirAt, openDirAt, openFileAt, readdirFd,
  readlinkAt, symlinkAt, unlinkAt, type Located,
} from './scoped-fs';

const fchown = promisify(fs.fchown);
const fchmod = promisify(fs.fchmod);
const futimes = promisify(fs.futimes);

/** What docker puts (base64 JSON) in the X-Docker-Container-Path-Stat header. */
export interface PathStat {
  name: string;
  size: number;
  /** Go os.FileMode bits: permissions plus type bits (the docker CLI tests IsDir and ModeSymlink). */
  mode: number;
  mtime: string;
  /** For a symlink: the container path it resolves to (clamped to the root). */
  linkTarget: string;
}

// Go's os.FileMode type bits.
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHARDEV = 2 ** 21;
const GO_STICKY = 2 ** 20;

export function goFileMode(st: Stats): number {
  let m = st.mode & 0o777;
  if (st.mode & 0o4000) m += GO_SETUID;
  if (st.mode & 0o2000) m += GO_SETGID;
  if (st.mode & 0o1000) m += GO_STICKY;
  if (st.isDirectory()) m += GO_DIR;
  else if (st.isSymbolicLink()) m += GO_SYMLINK;
  else if (st.isFIFO()) m += GO_PIPE;
  else if (st.isSocket()) m += GO_SOCKET;
  else if (st.isCharacterDevice()) m += GO_DEVICE + GO_CHARDEV;
  else if (st.isBlockDevice()) m += GO_DEVICE;
  return m;
}

/** The Go FileMode is a directory (for the CLI side of cp). */
export const isGoDir = (mode: number) => mode >= GO_DIR;
export const isGoSymlink = (mode: number) => Math.floor(mode / GO_SYMLINK) % 2 === 1;

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** docker's name for the top entry: the last component, "." for "dir/." and the root. */
export function archiveBase(path: string): string {
  if (/(^|\/)\.$/.test(path)) return '.';
  const parts = components(path);
  return parts.length ? parts[parts.length - 1] : '.';
}

/** docker: a path ending in "/" or "/." names the directory a symlink points to, not the link. */
const followsFinal = (path: string) => path.endsWith('/') || /(^|\/)\.$/.test(path);

/**
 * Resolve `path` for reading and lstat it. Throws docker's 404 "Could not find the file ..."
 * when it does not exist. The caller closes `loc.dirFd`.
 */
async function locate(root: ScopedRoot, path: string, container: string): Promise<{ loc: Located; st: Stats }> {
  let loc: Located;
  try {
    loc = await root.resolve(path, { followFinal: followsFinal(path) });
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') throw E.ContainerPathNotFound(path, container);
    if (errno(e) === 'ELOOP') throw E.CopyInvalid(path, container, (e as Error).message);
    throw e;
  }
  const st = await lstatAt(loc.dirFd, loc.name);
  if (!st) {
    await closeQuietly(loc.dirFd);
    throw E.ContainerPathNotFound(path, container);
  }
  return { loc, st };
}

/** HEAD /containers/{id}/archive: docker's stat of a container path. */
export async function statPath(root: ScopedRoot, path: string, container: string): Promise<PathStat> {
  const { loc, st } = await locate(root, path, container);
  try {
    let linkTarget = '';
    if (st.isSymbolicLink()) {
      const full = await root.resolve(loc.path, { followFinal: true }).catch(() => undefined);
      if (full) {
        linkTarget = full.path;
        await closeQuietly(full.dirFd);
      } else {
        // A dangling link: where it points, read lexically from its directory.
        linkTarget = posix.resolve(posix.dirname(loc.path), await readlinkAt(loc.dirFd, loc.name));
      }
    }
    return { name: archiveBase(path), size: st.size, mode: goFileMode(st), mtime: st.mtime.toISOString(), linkTarget };
  } finally {
    await closeQuietly(loc.dirFd);
  }
}

/**
 * GET /containers/{id}/archive: a tar of `path` (recursively for a directory) whose entries are
 * named under {@link archiveBase}, as dockerd names them. The stat is known before the first
 * byte, so the route can send the header. Symlinks inside are archived as links, never followed.
 */
export async function archivePath(root: ScopedRoot, path: string, container: string): Promise<{ stat: PathStat; tar: Readable }> {
  const stat = await statPath(root, path, container);
  const { loc } = await locate(root, path, container);
  const pack = tarPack();
  void packEntry(pack, loc.dirFd, loc.name, archiveBase(path))
    .then(() => pack.finalize())
    .catch((e) => pack.destroy(e))
    .finally(() => closeQuietly(loc.dirFd));
  return { stat, tar: Readable.from(pack) };
}

/** Add every child of `dirFd` to the tar under `prefix` ("" for the top). */
export async function packChildren(pack: Pack, dirFd: number, prefix: string): Promise<void> {
  const names = (await readdirFd(dirFd)).sort();
  for (const n of names) await packEntry(pack, dirFd, n, prefix ? `${prefix}/${n}` : n);
}

/** Add `name` (in `dirFd`) to the tar as `tarName`, recursing into directories. */
async function packEntry(pack: Pack, dirFd: number, name: string, tarName: string): Promise<void> {
  const st = await lstatAt(dirFd, name);
  if (!st) return; // removed meanwhile
  const base: Headers = { name: tarName, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (st.isDirectory()) {
    const fd = await openDirAt(dirFd, name);
    try {
      await addEntry(pack, { ...base, type: 'directory' });
      await packChildren(pack, fd, tarName === '.' ? '.' : tarName);
    } finally {
      await closeQuietly(fd);
    }
  } else if (st.isSymbolicLink()) {
    await addEntry(pack, { ...base, type: 'symlink', linkname: await readlinkAt(dirFd, name) });
  } else if (st.isFile()) {
    const fd = await openFileAt(dirFd, name);
    try {
      // The size the entry announces is what we read: a file growing meanwhile is cut there.
      const size = st.size;
      await new Promise<void>((resolve, reject) => {
        const cb = (err?: Error | null) => (err ? reject(err) : resolve());
        if (size === 0) return void pack.entry({ ...base, type: 'file', size }, Buffer.alloc(0), cb);
        const w = pack.entry({ ...base, type: 'file', size }, cb);
        const r = createReadStream('', { fd, start: 0, end: size - 1, autoClose: false });
        r.on('error', reject);
        r.pipe(w);
      });
    } finally {
      await closeQuietly(fd);
    }
  } else if (st.isFIFO()) {
    await addEntry(pack, { ...base, type: 'fifo' });
  } else if (st.isCharacterDevice() || st.isBlockDevice()) {
    const rdev = Number(st.rdev);
    await addEntry(pack, { ...base, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: (rdev >> 8) & 0xfff, devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) });
  }
  // Sockets are skipped, as tar does.
}

function addEntry(pack: Pack, h: Headers): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(h, (err) => (err ? reject(err) : resolve())));
}

export interface ExtractOptions {
  /** docker's noOverwriteDirNonDir: refuse to replace a directory by a non-directory or back. */
  noOverwriteDirNonDir: boolean;
  /** docker's copyUIDGID (`cp -a`): keep the archive's owners; else everything is root's. */
  copyUIDGID: boolean;
}

/**
 * PUT /containers/{id}/archive: unpack `tar` into the directory `path` of the container.
 * Entry names are relative to it ("/" prefixes stripped, ".." refused); parents are resolved
 * through symlinks clamped to the root; files are created O_EXCL|O_NOFOLLOW after removing what
 * was there, owners and modes are applied on the open fd, never by path.
 */
export async function extractInto(root: ScopedRoot, path: string, container: string, tar: Readable, opts: ExtractOptions): Promise<void> {
  const { loc, st } = await locate(root, path.endsWith('/') ? path : `${path}/`, container).catch(async (e) => {
    tar.resume();
    throw e;
  });
  await closeQuietly(loc.dirFd);
  if (!st.isDirectory()) {
    tar.resume();
    throw E.CopyInvalid(path, container, 'extraction point is not a directory');
  }
  const dest = loc.path;
  const ex = tarExtract({});
  const done = (async () => {
    for await (const entry of ex) {
      const h = entry.header;
      try {
        await extractEntry(root, dest, h, entry, opts, container);
      } finally {
        entry.resume();
      }
    }
  })();
  tar.pipe(ex);
  tar.on('error', (e) => ex.destroy(e));
  try {
    await done;
  } catch (e) {
    tar.unpipe(ex);
    tar.resume();
    if (isCongaError(e)) throw e;
    if (errno(e) === 'ELOOP' || errno(e) === 'ENOTDIR') throw E.CopyInvalid(path, container, `a path in the archive changed or leads through a non-directory: ${(e as Error).message}`);
    throw E.CopyInvalid(path, container, (e as Error).message);
  }
}

async function extractEntry(root: ScopedRoot, dest: string, h: Headers, body: AsyncIterable<unknown>, opts: ExtractOptions, container: string): Promise<void> {
  if (h.name.includes('\0')) throw E.CopyInvalid(dest, container, `archive entry "${h.name}" contains a NUL byte`);
  const parts = components(h.name);
  if (parts.includes('..')) throw E.CopyInvalid(dest, container, `archive entry "${h.name}" contains "..", which could point outside the destination`);
  if (parts.length === 0) return; // "." or "/": the destination itself
  const loc = await root.resolve(posix.join(dest, ...parts), { createParents: true });
  const { dirFd, name } = loc;
  try {
    const cur = await lstatAt(dirFd, name);
    const uid = opts.copyUIDGID ? (h.uid ?? 0) : 0;
    const gid = opts.copyUIDGID ? (h.gid ?? 0) : 0;
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date();
    if (h.type === 'directory') {
      if (cur && !cur.isDirectory()) {
        if (opts.noOverwriteDirNonDir) throw E.CopyInvalid(dest, container, `cannot overwrite non-directory "${loc.path}" with directory "${h.name}"`);
        await unlinkAt(dirFd, name);
      }
      if (!cur || !cur.isDirectory()) await mkdirAt(dirFd, name, 0o700);
      const fd = await openDirAt(dirFd, name);
      await applyMeta(fd, uid, gid, mode, mtime).finally(() => closeQuietly(fd));
      return;
    }
    if (cur?.isDirectory()) {
      // Replacing a directory would need a scoped recursive delete; docker's CLI always asks for this check.
      throw E.CopyInvalid(dest, container, `cannot overwrite directory "${loc.path}" with non-directory "${h.name}"`);
    }
    if (h.type === 'file' || h.type === 'contiguous-file') {
      if (cur) await unlinkAt(dirFd, name);
      const fd = await createFileAt(dirFd, name, 0o600);
      try {
        await pipeline(body, createWriteStream('', { fd, autoClose: false }));
        await applyMeta(fd, uid, gid, mode, mtime);
      } finally {
        await closeQuietly(fd);
      }
    } else if (h.type === 'symlink') {
      if (cur) await unlinkAt(dirFd, name);
      await symlinkAt(dirFd, name, h.linkname ?? '');
      // lchown and lutimes act on the link itself (the last component is never followed).
      await fsp.lchown(fdPath(dirFd, name), uid, gid);
      await fsp.lutimes(fdPath(dirFd, name), mtime, mtime);
    } else if (h.type === 'link') {
      const tparts = components(h.linkname ?? '');
      if (tparts.includes('..') || tparts.length === 0) throw E.CopyInvalid(dest, container, `hard link "${h.name}" to "${h.linkname}" leaves the destination`);
      const target = await root.resolve(posix.join(dest, ...tparts));
      try {
        const tst = await lstatAt(target.dirFd, target.name);
        if (!tst || tst.isDirectory()) throw E.CopyInvalid(dest, container, `hard link "${h.name}" targets "${h.linkname}", which is missing or a directory`);
        if (cur) await unlinkAt(dirFd, name);
        // link(2) does not follow a symlink at the target either.
        await fsp.link(fdPath(target.dirFd, target.name), fdPath(dirFd, name));
      } finally {
        await closeQuietly(target.dirFd);
      }
    } else {
      throw E.CopyInvalid(dest, container, `archive entry "${h.name}" is a ${h.type}: only files, directories and links can be copied into a container`);
    }
  } finally {
    await closeQuietly(dirFd);
  }
}

async function applyMeta(fd: number, uid: number, gid: number, mode: number, mtime: Date): Promise<void> {
  // chown first: it clears setuid/setgid bits that chmod then sets.
  await fchown(fd, uid, gid);
  await fchmod(fd, mode);
  await futimes(fd, mtime, mtime);
}
