import { existsSync, lstatSync, readdirSync, readlinkSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@conga/common';
import { CONTAINER_ID_RE, type Layout } from './layout';
import { mountsUnder } from './mountinfo';
import { unmountAllUnder } from './overlay';
import type { StorageDb } from './storage-db';

const HEX64 = /^[a-f0-9]{64}$/;
const TRANSIENT = /^\.(tmp|trash)-/;

const isDir = (p: string) => {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** Remove a rootfs directory, but never while something is still mounted below it. */
async function removeRootfsDir(path: string, log: Logger): Promise<void> {
  try {
    await unmountAllUnder(path);
  } catch (e) {
    log.warn({ path, err: e }, 'cannot unmount a leftover rootfs; leaving it');
    return;
  }
  if (mountsUnder(path).length) return;
  rmSync(path, { recursive: true, force: true });
}

/**
 * Make rows and directories agree after a crash (run once at open, before serving):
 * transient .tmp-/.trash- dirs go; a layer or rootfs row without its dir is dropped (and layers
 * whose parent is gone, transitively); a dir without a row is removed (rootfs dirs unmounted
 * first); layer links are rebuilt. Mounted rootfs that have rows are left mounted (live restore).
 * Internal to libs/storage (owner: storage).
 */
export async function recover(layout: Layout, db: StorageDb, log: Logger): Promise<void> {
  // Layers: transient dirs and rows without dirs.
  for (const name of readdirSync(layout.layersDir)) {
    if (TRANSIENT.test(name)) {
      log.info({ name }, 'removing leftover layer temp dir');
      rmSync(join(layout.layersDir, name), { recursive: true, force: true });
    }
  }
  let rows = db.listLayers();
  for (const r of rows) {
    if (!isDir(layout.layer(r.chainId))) {
      log.warn({ chainId: r.chainId }, 'layer row without its directory: dropped');
      db.deleteLayer(r.chainId);
    }
  }
  // Layers whose parent is gone are unusable: drop them, transitively.
  for (let changed = true; changed; ) {
    changed = false;
    rows = db.listLayers();
    const known = new Set(rows.map((r) => r.chainId));
    for (const r of rows) {
      if (r.parent && !known.has(r.parent)) {
        log.warn({ chainId: r.chainId, parent: r.parent }, 'layer whose parent is missing: dropped');
        db.deleteLayer(r.chainId);
        rmSync(layout.layer(r.chainId), { recursive: true, force: true });
        changed = true;
      }
    }
  }
  const layerHexes = new Set(db.listLayers().map((r) => r.chainId.slice(7)));
  for (const name of readdirSync(layout.layersDir)) {
    if (HEX64.test(name) && !layerHexes.has(name)) {
      log.warn({ name }, 'layer directory without a row: removed');
      rmSync(join(layout.layersDir, name), { recursive: true, force: true });
    }
  }
  // Links: drop stale ones, (re)create missing ones.
  for (const name of readdirSync(layout.linksDir)) {
    const p = join(layout.linksDir, name);
    let target = '';
    try {
      target = readlinkSync(p);
    } catch {
      /* not a link */
    }
    const m = /^\.\.\/layers\/([a-f0-9]{64})$/.exec(target);
    if (!m || !layerHexes.has(m[1]) || !m[1].startsWith(name)) rmSync(p, { recursive: true, force: true });
  }
  for (const r of db.listLayers()) {
    const link = layout.link(r.chainId);
    if (!existsSync(link)) {
      try {
        unlinkSync(link);
      } catch {
        /* absent */
      }
      symlinkSync(layout.linkTarget(r.chainId), link);
    }
  }

  // Rootfs.
  const rootfsRows = new Set<string>();
  for (const r of db.listRootfs()) {
    if (!isDir(layout.rootfs(r.containerId))) {
      log.warn({ containerId: r.containerId }, 'rootfs row without its directory: dropped');
      db.deleteRootfs(r.containerId);
    } else {
      rootfsRows.add(r.containerId);
      if (r.chainId && !db.getLayer(r.chainId)) log.warn({ containerId: r.containerId, chainId: r.chainId }, 'rootfs sits on a missing layer; it cannot be mounted');
    }
  }
  for (const name of readdirSync(layout.rootfsDir)) {
    const p = join(layout.rootfsDir, name);
    if (TRANSIENT.test(name) || (CONTAINER_ID_RE.test(name) && !rootfsRows.has(name))) {
      log.info({ name }, 'removing leftover rootfs directory');
      await removeRootfsDir(p, log);
    }
  }
}
