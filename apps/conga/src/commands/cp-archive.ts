/**
 * Host side of `conga cp`: tar a host path (entries under a chosen top name, links kept as
 * links) and unpack a tar from the daemon into a host directory without writing outside it.
 * Owner: CLI cp. Ownership is not restored on the host (docker's CLI does not either).
 */
import { constants as FS, createReadStream, type Stats } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, open, readdir, readlink, realpath, symlink, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { E } from '../errors';
import { END, encodeHeader, padding, readTar, type TarHeader } from './cp-tar';

/** Rename the top entry of an archive: "top" and "top/..." become "to" and "to/...". */
export function rebase(name: string, top: string, to: string): string {
  const n = name.replace(/^\/+/, '');
  const t = top.replace(/\/+$/, '');
  if (n === t || n === `${t}/`) return to;
  if (n.startsWith(`${t}/`)) return `${to}/${n.slice(t.length + 1)}`;
  return n;
}

/** A tar of host `path` whose entries are named under `top` ("." for a directory's contents). */
export function tarHostPath(path: string, top: string, follow: boolean): Readable {
  return Readable.from(
    (async function* () {
      yield* hostEntries(follow ? await realpath(path) : path, top);
      yield END;
    })(),
  );
}

async function* hostEntries(path: string, name: string): AsyncGenerator<Buffer> {
  const st: Stats = await lstat(path);
  const h = (type: TarHeader['type'], extra: Partial<TarHeader> = {}): Buffer =>
    encodeHeader({ name, type, mode: st.mode, uid: st.uid, gid: st.gid, size: 0, mtime: st.mtime, linkname: '', ...extra });
  if (st.isDirectory()) {
    yield h('directory');
    for (const n of (await readdir(path)).sort()) yield* hostEntries(join(path, n), `${name}/${n}`);
  } else if (st.isSymbolicLink()) {
    yield h('symlink', { linkname: await readlink(path) });
  } else if (st.isFile()) {
    yield h('file', { size: st.size });
    let sent = 0;
    if (st.size > 0) {
      for await (const c of createReadStream(path, { start: 0, end: st.size - 1 })) {
        sent += (c as Buffer).length;
        yield c as Buffer;
      }
    }
    // A file that shrank meanwhile is padded to the size its header announced.
    if (sent < st.size) yield Buffer.alloc(st.size - sent);
    yield padding(st.size);
  }
  // Devices, FIFOs and sockets are not copied into containers.
}

/**
 * Unpack `tar` into the host directory `dir`, renaming the top entry `top` to `to`. Names with
 * ".." are refused; every parent below `dir` must be a real directory (never a symlink), files
 * are created O_EXCL|O_NOFOLLOW after removing what was there.
 */
export async function extractToHost(tar: AsyncIterable<Buffer>, dir: string, top: string, to: string): Promise<void> {
  for await (const { header: h, body } of readTar(tar)) {
    const name = rebase(h.name, top, to);
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw E.InvalidArgument(`refusing archive entry "${h.name}": it contains ".."`);
    if (parts.length === 0) continue;
    let cur = dir;
    for (const p of parts.slice(0, -1)) {
      cur = join(cur, p);
      const st = await lstat(cur).catch(() => undefined);
      if (!st) await mkdir(cur, { mode: 0o755 });
      else if (!st.isDirectory()) throw E.InvalidArgument(`refusing archive entry "${h.name}": ${cur} is not a directory`);
    }
    const target = join(cur, parts[parts.length - 1]);
    const existing = await lstat(target).catch(() => undefined);
    const mode = h.mode & 0o7777;
    if (h.type === 'directory') {
      if (existing && !existing.isDirectory()) throw E.InvalidArgument(`cannot overwrite non-directory ${target} with a directory`);
      if (!existing) await mkdir(target, { mode: 0o700 });
      await chmod(target, mode);
      await utimes(target, h.mtime, h.mtime);
      continue;
    }
    if (h.type !== 'file' && h.type !== 'symlink') continue; // devices, FIFOs, hard links: not recreated on the host
    if (existing?.isDirectory()) throw E.InvalidArgument(`cannot overwrite directory ${target} with non-directory`);
    if (existing) await unlink(target);
    if (h.type === 'file') {
      const fh = await open(target, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, 0o600);
      await pipeline(Readable.from(body), fh.createWriteStream());
      await chmod(target, mode);
      await utimes(target, h.mtime, h.mtime);
    } else {
      await symlink(h.linkname, target);
      await lutimes(target, h.mtime, h.mtime);
    }
  }
}
