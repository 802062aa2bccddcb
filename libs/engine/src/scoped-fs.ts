/**
 * File access confined to a container's root (CVE-2018-15664, the `docker cp` symlink-exchange
 * race). Owner: engine (cp/archive). Node has no openat(2), so this emulates it: every object is
 * reached through an open directory fd as `/proc/self/fd/<dirfd>/<name>`, where the kernel
 * resolves the magic link to exactly that directory and looks `name` up inside it. Each step
 * opens one component with O_NOFOLLOW, symlinks are read and resolved here against the
 * container root (absolute targets restart at the root, ".." never climbs above it), so a path
 * through a symlink can never leave the root, whatever the container swaps meanwhile.
 *
 * Residual window (documented, accepted): a symlink swapped in between our lstat and our open
 * makes the open fail (ELOOP/ENOTDIR) rather than follow it; the copy then fails with an error,
 * never escapes. A directory we hold open may be renamed elsewhere by the container; it is still
 * inside the container's filesystem. Mounts inside the root (volumes) are crossed like the
 * container sees them, which is what `docker cp` does. Nothing here executes container files.
 */
import * as fs from 'node:fs';
import { constants as FS, type Stats } from 'node:fs';
import { lstat, mkdir, readdir, readlink, symlink, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { E } from '@conga/common';

// Raw fds (not FileHandles, which a GC finaliser may close behind our back). libuv opens
// every fd with O_CLOEXEC, so none leaks into a child process.
const openRaw = promisify(fs.open);
const closeFd = promisify(fs.close);
const fstatFd = promisify(fs.fstat);

/** Linux allows 40 symlinks in one lookup; so do we. */
const MAX_LINKS = 40;
const DIR_FLAGS = FS.O_RDONLY | FS.O_DIRECTORY | FS.O_NOFOLLOW;

/** The path the kernel resolves to `name` inside the directory open as `fd`. */
export function fdPath(fd: number, name = '.'): string {
  if (name !== '.' && (name === '' || name === '..' || name.includes('/') || name.includes('\0'))) {
    throw E.InvalidArgument(`invalid file name "${name}"`);
  }
  return `/proc/self/fd/${fd}/${name}`;
}

/** Split a container path into its components ("." and empty ones dropped, ".." kept). */
export function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

/** A resolved location: `dirFd` (owned by the caller, close it) holds `name` ("." for the root). */
export interface Located {
  dirFd: number;
  name: string;
  /** The resolved container path, e.g. "/usr/bin/x" (symlinks of parents already resolved). */
  path: string;
}

export interface ResolveOptions {
  /** Follow a symlink in the last component too (docker: a path ending in "/" or "/."). */
  followFinal?: boolean;
  /** Create missing parent directories (0755, root-owned) on the way (extraction). */
  createParents?: boolean;
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;
const tooManyLinks = (path: string) => Object.assign(new Error(`too many levels of symbolic links (or a path that keeps changing) in ${path}`), { code: 'ELOOP' });

/**
 * A container root opened once; every lookup starts from its fd. Close it when done.
 */
export class ScopedRoot {
  private constructor(
    /** Host path of the root (e.g. /proc/<pid>/root or the rootfs mount). */
    readonly root: string,
    private readonly rootFd: number,
  ) {}

  /** Open `root` (a trusted host path; /proc/<pid>/root is followed on purpose). */
  static async open(root: string): Promise<ScopedRoot> {
    return new ScopedRoot(root, await openRaw(root, DIR_FLAGS & ~FS.O_NOFOLLOW));
  }

  async close(): Promise<void> {
    await closeFd(this.rootFd).catch(() => undefined);
  }

  /** Open the root directory again (a new fd the caller owns). */
  openRoot(): Promise<number> {
    return dupDir(this.rootFd);
  }

  /**
   * Resolve `path` (container-absolute; relative means from "/") component by component.
   * Parents are resolved through symlinks clamped to the root; the last component is followed
   * only with `followFinal`. Missing parents throw ENOENT unless `createParents`; a missing
   * last component is fine (check with {@link lstatAt}).
   */
  async resolve(path: string, opts: ResolveOptions = {}): Promise<Located> {
    let pending = components(path);
    // Stack of open directory fds from the root down, and their names.
    const fds: number[] = [await this.openRoot()];
    const names: string[] = [];
    let links = 0;
    try {
      while (pending.length > 0) {
        const name = pending.shift()!;
        const last = pending.length === 0;
        if (name === '..') {
          if (fds.length > 1) {
            await closeFd(fds.pop()!);
            names.pop();
          }
          continue;
        }
        const dir = fds[fds.length - 1];
        let st: Stats | undefined;
        try {
          st = await lstat(fdPath(dir, name));
        } catch (e) {
          if (errno(e) !== 'ENOENT') throw e;
        }
        if (st?.isSymbolicLink() && (!last || opts.followFinal)) {
          if (++links > MAX_LINKS) throw tooManyLinks(path);
          const target = await readlink(fdPath(dir, name)).catch((e) => {
            // Swapped for something else since the lstat: look at this component again.
            if (errno(e) === 'EINVAL' || errno(e) === 'ENOENT') return undefined;
            throw e;
          });
          if (target === undefined) {
            pending.unshift(name);
            continue;
          }
          if (target.startsWith('/')) {
            // Absolute: from the container root, never the host's.
            while (fds.length > 1) await closeFd(fds.pop()!);
            names.length = 0;
          }
          pending = [...components(target), ...pending];
          continue;
        }
        if (last) return { dirFd: fds.pop()!, name, path: '/' + [...names, name].join('/') };
        if (!st) {
          if (!opts.createParents) throw Object.assign(new Error(`no such file or directory: ${path}`), { code: 'ENOENT' });
          await mkdir(fdPath(dir, name), { mode: 0o755 }).catch((e) => {
            if (errno(e) !== 'EEXIST') throw e;
          });
        }
        // O_NOFOLLOW|O_DIRECTORY: a component swapped for a symlink or a file since the lstat
        // fails here instead of being followed.
        const fd = await openFd(fdPath(dir, name), DIR_FLAGS).catch((e) => {
          // Swapped for a symlink (or removed) since the lstat: look at it again, never follow it.
          if ((errno(e) === 'ELOOP' || errno(e) === 'ENOENT') && ++links <= MAX_LINKS) return undefined;
          throw e;
        });
        if (fd === undefined) {
          pending.unshift(name);
          continue;
        }
        fds.push(fd);
        names.push(name);
      }
      // The root itself ("/", or a path that resolved back to it).
      return { dirFd: fds.pop()!, name: '.', path: '/' + names.join('/') };
    } finally {
      for (const fd of fds) await closeFd(fd).catch(() => undefined);
    }
  }
}

const openFd = (path: string, flags: number, mode?: number): Promise<number> => openRaw(path, flags, mode);

/** A second fd on the directory open as `fd`. */
const dupDir = (fd: number): Promise<number> => openRaw(fdPath(fd), DIR_FLAGS);

/** lstat of `name` in the directory `dirFd` (undefined when it does not exist). */
export async function lstatAt(dirFd: number, name: string): Promise<Stats | undefined> {
  try {
    return await lstat(fdPath(dirFd, name));
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

export const readlinkAt = (dirFd: number, name: string) => readlink(fdPath(dirFd, name));
export const readdirFd = (dirFd: number) => readdir(fdPath(dirFd));
export const mkdirAt = (dirFd: number, name: string, mode: number) => mkdir(fdPath(dirFd, name), { mode });
export const symlinkAt = (dirFd: number, name: string, target: string) => symlink(target, fdPath(dirFd, name));
export const unlinkAt = (dirFd: number, name: string) => unlink(fdPath(dirFd, name));
export const closeQuietly = (fd: number) => closeFd(fd).catch(() => undefined);

/** Open a directory inside `dirFd` without following a symlink (a new fd the caller owns). */
export const openDirAt = (dirFd: number, name: string) => openFd(fdPath(dirFd, name), DIR_FLAGS);

/**
 * Open a regular file inside `dirFd` for reading without following a symlink; anything that is
 * not a regular file by the time it is open (a FIFO or device swapped in) is refused.
 */
export async function openFileAt(dirFd: number, name: string): Promise<number> {
  const fd = await openFd(fdPath(dirFd, name), FS.O_RDONLY | FS.O_NOFOLLOW | FS.O_NONBLOCK);
  const st = await fstatFd(fd);
  if (!st.isFile()) {
    await closeFd(fd);
    throw Object.assign(new Error(`${name} is not a regular file`), { code: 'EINVAL' });
  }
  return fd;
}

/** Create a new regular file inside `dirFd` (O_EXCL|O_NOFOLLOW: never through a link). */
export const createFileAt = (dirFd: number, name: string, mode: number) =>
  openFd(fdPath(dirFd, name), FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, mode);
