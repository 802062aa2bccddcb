/**
 * docker export and docker diff on the engine side (GET /containers/{id}/export and
 * /containers/{id}/changes). Owner: engine (cp/archive). Both only read, through
 * {@link ScopedRoot}, so a container swapping symlinks cannot make them read host files.
 */
import { Readable } from 'node:stream';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { pack as tarPack } from 'tar-stream';
import { packChildren } from './container-archive';
import { ScopedRoot, closeQuietly, lstatAt, openDirAt, readdirFd } from './scoped-fs';

/**
 * The whole root as a tar (names relative, "bin/busybox", like docker export). `root` is the
 * rootfs mount, so volumes and the /proc of a running container are not included.
 */
export async function exportRoot(root: ScopedRoot): Promise<Readable> {
  const dir = await root.openRoot();
  const pack = tarPack();
  void packChildren(pack, dir, '')
    .then(() => pack.finalize())
    .catch((e) => pack.destroy(e))
    .finally(() => closeQuietly(dir));
  return Readable.from(pack);
}

/** docker's change kinds. */
export const ChangeKind = { Modified: 0, Added: 1, Deleted: 2 } as const;

export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * The changes of a container from its overlay upper dir: an overlay whiteout (char device 0/0)
 * is a deletion, anything else is a change when the path exists in the image (`lowers`, top
 * first: the read-only image layer dirs) and an addition otherwise. Sorted by path, as docker.
 */
export async function changes(upper: ScopedRoot, lowers: string[]): Promise<Change[]> {
  const out: Change[] = [];
  const dir = await upper.openRoot();
  try {
    await walkUpper(dir, [], lowers, out);
  } finally {
    await closeQuietly(dir);
  }
  return out.sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}

async function walkUpper(dirFd: number, parts: string[], lowers: string[], out: Change[]): Promise<void> {
  for (const name of (await readdirFd(dirFd)).sort()) {
    if (name === OPAQUE) continue;
    const st = await lstatAt(dirFd, name);
    if (!st) continue;
    const p = [...parts, name];
    const path = '/' + p.join('/');
    if (st.isCharacterDevice() && Number(st.rdev) === 0) {
      out.push({ Path: path, Kind: ChangeKind.Deleted });
      continue;
    }
    // aufs-style whiteouts do not occur in overlay upper dirs; skip them should a tool write one.
    if (name.startsWith(WHITEOUT_PREFIX)) continue;
    out.push({ Path: path, Kind: (await inImage(lowers, p)) ? ChangeKind.Modified : ChangeKind.Added });
    if (st.isDirectory()) {
      const fd = await openDirAt(dirFd, name).catch(() => undefined);
      if (fd === undefined) continue;
      try {
        await walkUpper(fd, p, lowers, out);
      } finally {
        await closeQuietly(fd);
      }
    }
  }
}

/**
 * Whether `parts` exists in the image: the first layer (top first) that has it or a whiteout
 * for it decides. Every parent is lstat'ed and must be a real directory, so no symlink in the
 * image is followed (the layer dirs are read-only and never change under us).
 */
async function inImage(lowers: string[], parts: string[]): Promise<boolean> {
  for (const layer of lowers) {
    let dir = layer;
    let blocked = false;
    for (let i = 0; i < parts.length - 1 && !blocked; i++) {
      dir = join(dir, parts[i]);
      const st = await lstat(dir).catch(() => undefined);
      if (!st?.isDirectory()) blocked = true;
    }
    if (blocked) continue;
    // Layers are stored unpacked for overlay: a whiteout is a 0/0 character device.
    const st = await lstat(join(dir, parts[parts.length - 1])).catch(() => undefined);
    if (st) return !(st.isCharacterDevice() && Number(st.rdev) === 0);
  }
  return false;
}
