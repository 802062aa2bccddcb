import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { E, type CallContext, type KeyedMutex, type Logger } from '@conga/common';
import type { StorageService } from '@conga/api';
import type { ContentStore } from './content-store';
import type { ImageStore } from './image-store';
import type { PinSet } from './pins';
import { pidAlive } from './process-dirs';

/** What the collector may use. Internal to libs/image. */
export interface GcDeps {
  content: ContentStore;
  store: ImageStore;
  storage: StorageService;
  pins: PinSet;
  locks: KeyedMutex;
  log: Logger;
}

export interface GcOptions {
  /** Keep blobs modified less than this long ago (a peer process may be about to record them). */
  minBlobAgeMs?: number;
  /** Also delete storage layers no image uses. */
  layers: boolean;
}

/** At startup with live peers: blobs this old are surely not part of a pull in progress. */
const PEER_SAFE_BLOB_AGE_MS = 60 * 60 * 1000;

/** Other live image-service processes sharing the state dir (their pin dirs are `<pinsDir>/<pid>`). */
export function livePeers(pinsDir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(pinsDir);
  } catch {
    return [];
  }
  return names.filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid && pidAlive(Number(n))).map(Number);
}

/**
 * Remove blobs no image references and layers no image uses: what a pull killed half-way (or a
 * crash between "layer applied" and "image recorded") leaves behind. Anything pinned by a live
 * pull, in this process or another, is kept; each delete re-checks under the object's lock, the
 * lock pulls and deletes take too. Returns what was removed.
 */
export async function collectGarbage(d: GcDeps, ctx: CallContext, opts: GcOptions): Promise<{ blobs: string[]; layers: string[] }> {
  const blobs: string[] = [];
  const now = Date.now();
  let names: string[] = [];
  try {
    names = readdirSync(d.content.blobDir);
  } catch {
    /* no store yet */
  }
  for (const hex of names) {
    if (!/^[a-f0-9]{64}$/.test(hex)) continue;
    const dg = `sha256:${hex}`;
    await d.locks.run(`blob:${dg}`, async () => {
      if (d.pins.has(`blob:${dg}`) || d.store.blobReferenced(dg)) return;
      if (opts.minBlobAgeMs) {
        const mtime = statSync(join(d.content.blobDir, hex), { throwIfNoEntry: false })?.mtimeMs;
        if (mtime === undefined || now - mtime < opts.minBlobAgeMs) return;
      }
      await d.content.remove(dg);
      blobs.push(dg);
    });
  }
  const layers: string[] = [];
  if (opts.layers) {
    let left = (await d.storage.listLayers({}, ctx)).layers.map((l) => l.chainId);
    // Children before parents: a parent is refused (LayerInUse) until its children are gone.
    for (let progress = true; progress && left.length > 0; ) {
      progress = false;
      const used = d.store.chainIdsInUse('');
      const next: string[] = [];
      for (const c of left) {
        if (used.has(c)) continue;
        const gone = await d.locks.run(`chain:${c}`, async () => {
          if (d.pins.has(`chain:${c}`) || d.store.chainIdsInUse('').has(c)) return false;
          try {
            await d.storage.deleteLayer({ chainId: c }, ctx);
            return true;
          } catch (e) {
            if (E.LayerInUse.is(e)) return undefined;
            if (E.LayerNotFound.is(e)) return false;
            throw e;
          }
        });
        if (gone) {
          layers.push(c);
          progress = true;
        } else if (gone === undefined) next.push(c);
      }
      left = next;
    }
  }
  if (blobs.length || layers.length) d.log.info({ blobs, layers }, 'garbage collected: blobs and layers no image uses');
  return { blobs, layers };
}

/**
 * The collection run when an image service starts. Alone on the state dir it removes everything
 * unreferenced. With live peers (split mode, other workers may be mid-pull, and a blob they just
 * downloaded is referenced only once their image is recorded) it removes only old blobs and
 * leaves layers to `image prune`.
 */
export async function startupGc(d: GcDeps, pinsDir: string, ctx: CallContext): Promise<void> {
  const alone = livePeers(pinsDir).length === 0;
  try {
    await collectGarbage(d, ctx, alone ? { layers: true } : { layers: false, minBlobAgeMs: PEER_SAFE_BLOB_AGE_MS });
  } catch (e) {
    // The storage service may not be reachable yet (split mode): the next start or prune retries.
    d.log.warn({ err: e }, 'startup garbage collection incomplete');
  }
}
