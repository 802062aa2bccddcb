import { constants as FS } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readlink, rm, symlink, unlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { extract as tarExtract, type Header } from 'tar-stream';
import { E, type Logger } from '@conga/common';
import { runCommand } from './run-command';

/** What an extraction produced. */
export interface ExtractStats {
  /** Bytes of regular file content written. */
  size: number;
  entries: number;
  /** Xattrs that could not be applied (binary values mangled by the tar reader, or not allowed). */
  skippedXattrs: number;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
/** Xattr names a layer may set; everything else (trusted.overlay.*, security.selinux, ...) is ignored. */
/** A tar header as tar-stream gives it (PAX records decoded as UTF-8 strings). */
type Headers = Omit<Header, 'pax'> & { pax?: Record<string, string> | null };

const ALLOWED_XATTR = /^(user\.[^\0]+|security\.capability)$/;

type Kind = 'missing' | 'dir' | 'symlink' | 'other';

async function kindOf(path: string): Promise<Kind> {
  try {
    const st = await lstat(path);
    if (st.isSymbolicLink()) return 'symlink';
    return st.isDirectory() ? 'dir' : 'other';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw e;
  }
}

/**
 * Split an archive name into safe components: a leading "/" is stripped (like docker), empty
 * and "." components are dropped, ".." anywhere is refused. [] means the layer root itself.
 */
export function safeComponents(name: string, entry: string, what = 'path'): string[] {
  if (name.includes('\0')) throw E.UnsafeArchive(entry, `the ${what} contains a NUL byte`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw E.UnsafeArchive(entry, `the ${what} "${name}" contains "..", which could point outside the layer`);
  return parts;
}

/**
 * Unpack one uncompressed layer tar into `root` (an empty directory only this call writes to)
 * without ever creating or writing anything outside it:
 * - names are normalised by {@link safeComponents};
 * - every parent component is lstat'ed: a symlink or non-directory parent is refused, a missing
 *   one is created (0755), so nothing is written through a symlink;
 * - an existing final path is removed (never opened), files are created O_EXCL|O_NOFOLLOW;
 * - hard links must target a non-directory already in this layer, reached without symlinks,
 *   and not a symlink that points out of the layer (absolute or escaping with "..");
 * - overlay whiteouts: `.wh.NAME` becomes a 0/0 char device, `.wh..wh..opq` sets
 *   trusted.overlay.opaque=y on its directory;
 * - ownership (lchown), modes incl. setuid/setgid/sticky (chmod after chown), device nodes and
 *   fifos (mknod), user.* and security.capability xattrs from PAX, mtimes (directories last).
 * Refused entries throw E.UnsafeArchive; the caller discards `root`. Owner: storage.
 */
export async function extractTar(tar: Readable, root: string, log: Logger): Promise<ExtractStats> {
  const stats: ExtractStats = { size: 0, entries: 0, skippedXattrs: 0 };
  /** Directories (relative paths) verified to be real directories inside root. */
  const safeDirs = new Set<string>(['']);
  const dirTimes = new Map<string, Date>();

  const forget = (rel: string) => {
    for (const d of safeDirs) if (d === rel || d.startsWith(rel + '/')) safeDirs.delete(d);
    for (const d of dirTimes.keys()) if (d === rel || d.startsWith(rel + '/')) dirTimes.delete(d);
  };

  /** Make sure every parent of `comps` is a real directory inside root; returns the absolute path. */
  const ensureParents = async (comps: string[], entry: string, create: boolean): Promise<string> => {
    let rel = '';
    for (const c of comps.slice(0, -1)) {
      rel = rel ? `${rel}/${c}` : c;
      if (safeDirs.has(rel)) continue;
      const abs = join(root, rel);
      const kind = await kindOf(abs);
      if (kind === 'symlink') throw E.UnsafeArchive(entry, `its parent "${rel}" is a symbolic link; writing through it could escape the layer`);
      if (kind === 'other') throw E.UnsafeArchive(entry, `its parent "${rel}" is not a directory`);
      if (kind === 'missing') {
        if (!create) throw E.UnsafeArchive(entry, `"${rel}" does not exist in this layer`);
        await mkdir(abs, { mode: 0o755 });
        await chmod(abs, 0o755);
      }
      safeDirs.add(rel);
    }
    return join(root, ...comps);
  };

  /** Remove whatever is at `abs` (never following it), unless it is a directory and `keepDir`. */
  const clear = async (abs: string, rel: string, keepDir: boolean): Promise<'kept' | 'cleared'> => {
    const kind = await kindOf(abs);
    if (kind === 'missing') return 'cleared';
    if (kind === 'dir') {
      if (keepDir) return 'kept';
      forget(rel);
      await rm(abs, { recursive: true, force: true });
    } else {
      await unlink(abs);
    }
    return 'cleared';
  };

  const owner = (h: Headers) => {
    const pax = h.pax ?? {};
    const uid = pax.uid !== undefined ? Number(pax.uid) : h.uid ?? 0;
    const gid = pax.gid !== undefined ? Number(pax.gid) : h.gid ?? 0;
    return { uid: Number.isSafeInteger(uid) && uid >= 0 ? uid : 0, gid: Number.isSafeInteger(gid) && gid >= 0 ? gid : 0 };
  };

  const applyXattrs = async (abs: string, h: Headers) => {
    if (!h.pax) return;
    for (const [key, value] of Object.entries(h.pax)) {
      if (!key.startsWith('SCHILY.xattr.')) continue;
      const name = key.slice('SCHILY.xattr.'.length);
      // tar-stream decodes PAX values as UTF-8: a value with invalid UTF-8 arrives mangled.
      if (!ALLOWED_XATTR.test(name) || value.includes('\uFFFD')) {
        stats.skippedXattrs++;
        log.debug({ entry: h.name, xattr: name }, 'layer xattr skipped');
        continue;
      }
      await runCommand('setfattr', ['-h', '-n', name, '-v', '0x' + Buffer.from(value, 'utf8').toString('hex'), '--', abs]);
    }
  };

  /** Ownership, then mode (chown clears setuid bits), then xattrs; mtimes of non-dirs now. */
  const finish = async (abs: string, rel: string, h: Headers, isDir: boolean) => {
    const { uid, gid } = owner(h);
    await lchown(abs, uid, gid);
    await chmod(abs, (h.mode ?? (isDir ? 0o755 : 0o644)) & 0o7777);
    await applyXattrs(abs, h);
    const mtime = h.mtime ?? new Date(0);
    if (isDir) dirTimes.set(rel, mtime);
    else await lutimes(abs, mtime, mtime);
  };

  const handle = async (h: Headers, body: AsyncIterable<Uint8Array>) => {
    const entry = h.name;
    const comps = safeComponents(entry, entry);
    const base = comps.at(-1) ?? '';
    const rel = comps.join('/');

    // Overlay whiteouts.
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const dirComps = comps.slice(0, -1);
      await ensureParents([...dirComps, 'x'], entry, true);
      const dirAbs = join(root, ...dirComps);
      if (base === OPAQUE_MARKER) {
        await runCommand('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', '--', dirAbs]);
        return;
      }
      if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return; // aufs metadata (.wh..wh.plnk, ...)
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw E.UnsafeArchive(entry, 'whiteout of an invalid name');
      const hiddenRel = [...dirComps, hidden].join('/');
      const abs = join(dirAbs, hidden);
      await clear(abs, hiddenRel, false);
      await runCommand('mknod', ['--', abs, 'c', '0', '0']);
      const { uid, gid } = owner(h);
      await lchown(abs, uid, gid);
      return;
    }

    if (comps.length === 0) {
      if (h.type !== 'directory') throw E.UnsafeArchive(entry, 'only a directory may name the layer root');
      await finish(root, '', h, true);
      return;
    }

    const abs = await ensureParents(comps, entry, true);
    switch (h.type) {
      case 'directory': {
        if ((await clear(abs, rel, true)) === 'cleared') await mkdir(abs, { mode: 0o700 });
        safeDirs.add(rel);
        await finish(abs, rel, h, true);
        return;
      }
      case 'file':
      case 'contiguous-file': {
        await clear(abs, rel, false);
        const fh = await open(abs, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body) {
            await fh.write(chunk);
            stats.size += chunk.length;
          }
        } finally {
          await fh.close();
        }
        await finish(abs, rel, h, false);
        return;
      }
      case 'symlink': {
        const target = h.linkname ?? '';
        if (target === '' || target.includes('\0')) throw E.UnsafeArchive(entry, 'symbolic link without a valid target');
        await clear(abs, rel, false);
        await symlink(target, abs);
        const { uid, gid } = owner(h);
        await lchown(abs, uid, gid);
        const mtime = h.mtime ?? new Date(0);
        await lutimes(abs, mtime, mtime);
        return;
      }
      case 'link': {
        const targetComps = safeComponents(h.linkname ?? '', entry, 'hard link target');
        if (targetComps.length === 0) throw E.UnsafeArchive(entry, 'hard link to the layer root');
        const targetAbs = await ensureParents(targetComps, entry, false);
        let st;
        try {
          st = await lstat(targetAbs);
        } catch {
          throw E.UnsafeArchive(entry, `hard link target "${h.linkname}" is not in this layer`);
        }
        if (st.isDirectory()) throw E.UnsafeArchive(entry, `hard link target "${h.linkname}" is a directory`);
        if (st.isSymbolicLink()) {
          const to = await readlink(targetAbs);
          const resolved = posix.normalize(posix.join(posix.dirname(targetComps.join('/')), to));
          if (posix.isAbsolute(to) || resolved === '..' || resolved.startsWith('../')) {
            throw E.UnsafeArchive(entry, `hard link target "${h.linkname}" is a symbolic link pointing outside the layer`);
          }
        }
        if (targetComps.join('/') === rel) return;
        await clear(abs, rel, false);
        await link(targetAbs, abs);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await clear(abs, rel, false);
        const args =
          h.type === 'fifo'
            ? ['--', abs, 'p']
            : ['--', abs, h.type === 'character-device' ? 'c' : 'b', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
        await runCommand('mknod', args);
        await finish(abs, rel, h, false);
        return;
      }
      default:
        log.warn({ entry, type: h.type }, 'layer entry of an unsupported type skipped');
    }
  };

  const ex = tarExtract();
  tar.on('error', (e) => ex.destroy(e));
  tar.pipe(ex);
  for await (const e of ex) {
    stats.entries++;
    try {
      await handle(e.header as Headers, e as unknown as AsyncIterable<Uint8Array>);
    } catch (err) {
      tar.unpipe(ex);
      tar.destroy();
      ex.destroy();
      throw err;
    }
    e.resume(); // drain anything handle() did not read
  }
  // Directory mtimes last (their contents changed them), deepest first.
  const dirs = [...dirTimes.entries()].sort((a, b) => b[0].length - a[0].length);
  for (const [rel, t] of dirs) {
    await lutimes(rel ? join(root, rel) : root, t, t).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  return stats;
}
