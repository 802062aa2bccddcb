import { createHash } from 'node:crypto';
import { E, type CallContext, type KeyedMutex, type Progress } from '@conga/common';
import type { StorageService } from '@conga/api';
import type { ContentStore } from './content-store';
import type { ImageStore } from './image-store';
import type { PinSet } from './pins';
import { chainIds } from './puller';
import { MEDIA } from './registry-client';
import { sniffCompression } from '@conga/storage/src/decompress';

/** What load and import share: stores, storage and the per-object locks. Internal to libs/image. */
export interface CommitDeps {
  content: ContentStore;
  store: ImageStore;
  storage: StorageService;
  locks: KeyedMutex;
  pins: PinSet;
  /** The image service's state dir (temp files go under `<dir>/ingest`, cleared at start). */
  dir: string;
}

/** A layer blob already in the content store. */
export interface StoredLayer {
  digest: string;
  /** Media type for the manifest; "" to decide from the blob's bytes. */
  mediaType: string;
  size: number;
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The OCI layer media type for a blob's compression. */
export async function layerMediaType(content: ContentStore, digest: string): Promise<string> {
  const kind = await sniffCompression(content.path(digest));
  return kind === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : kind === 'zstd' ? 'application/vnd.oci.image.layer.v1.tar+zstd' : 'application/vnd.oci.image.layer.v1.tar';
}

/**
 * Turn a config and layer blobs (already verified in the content store) into an image: apply the
 * layers through storage in order, store the manifest (given, or an OCI manifest made here) and
 * write the image row with its tags in one transaction. On failure the layers this call applied
 * and blobs no image references are removed: no partial image is left. Returns the image id.
 */
export async function commitImage(
  d: CommitDeps,
  input: { config: Buffer; layers: StoredLayer[]; tags: string[]; manifest?: Buffer; emit?: (p: Progress) => void },
  ctx: CallContext,
): Promise<string> {
  const emit = input.emit ?? (() => {});
  let config: { created?: string; os?: string; architecture?: string; variant?: string; rootfs?: { diff_ids?: unknown } };
  try {
    config = JSON.parse(input.config.toString('utf8'));
  } catch (e) {
    throw E.InvalidImageConfig('(archive)', `the image config is not JSON: ${(e as Error).message}`);
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.some((x) => typeof x !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(x))) {
    throw E.InvalidImageConfig('(archive)', 'rootfs.diff_ids is missing or holds invalid digests');
  }
  if (diffIds.length !== input.layers.length) {
    throw E.InvalidImageConfig('(archive)', `there are ${input.layers.length} layers but the config lists ${diffIds.length} diff_ids`);
  }
  const id = sha256(input.config);
  const chains = chainIds(diffIds as string[]);
  const pinned: string[] = [];
  const pin = (k: string) => {
    d.pins.pin(k);
    pinned.push(k);
  };
  const applied: string[] = [];
  const layers = await Promise.all(input.layers.map(async (l) => ({ ...l, mediaType: l.mediaType || (await layerMediaType(d.content, l.digest)) })));
  const manifest =
    input.manifest ??
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: id, size: input.config.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      }),
    );
  const manifestDigest = sha256(manifest);
  const blobs = [manifestDigest, id, ...layers.map((l) => l.digest)];
  for (const b of blobs) pin(`blob:${b}`);
  try {
    await d.content.put(id, input.config, 'image config');
    await d.content.put(manifestDigest, manifest, 'image manifest');
    return await d.locks.run(`image:${id}`, async () => {
      const sizes: number[] = [];
      for (let i = 0; i < chains.length; i++) {
        const c = chains[i];
        const short = (diffIds[i] as string).slice(7, 19);
        const size = await d.locks.run(`chain:${c}`, async () => {
          pin(`chain:${c}`);
          try {
            return Number((await d.storage.getLayer({ chainId: c }, ctx)).size);
          } catch (e) {
            if (!E.LayerNotFound.is(e)) throw e;
          }
          emit({ id: short, status: 'Loading layer', current: 0, total: layers[i].size });
          const l = await d.storage.applyLayer(
            { chainId: c, parentChainId: i === 0 ? '' : chains[i - 1], diffId: diffIds[i] as string, blobPath: d.content.path(layers[i].digest), mediaType: layers[i].mediaType },
            ctx,
          );
          applied.push(c);
          emit({ id: short, status: 'Loading layer', current: layers[i].size, total: layers[i].size });
          return Number(l.size);
        });
        sizes.push(size);
      }
      const [first, ...rest] = input.tags;
      d.store.transaction(() => {
        d.store.commit(
          {
            id,
            configJson: input.config.toString('utf8'),
            manifestDigest,
            diffIds: diffIds as string[],
            chainIds: chains,
            size: sizes.reduce((a, b) => a + b, 0),
            created: typeof config.created === 'string' ? config.created : '',
            os: typeof config.os === 'string' ? config.os : 'linux',
            architecture: typeof config.architecture === 'string' ? config.architecture : '',
            variant: typeof config.variant === 'string' ? config.variant : '',
            blobs,
          },
          first,
          undefined,
        );
        for (const t of rest) d.store.setTag(t, id);
      });
      return id;
    });
  } catch (e) {
    for (const k of pinned) d.pins.unpin(k);
    pinned.length = 0;
    const inUse = d.store.chainIdsInUse('');
    for (const c of applied.reverse()) {
      if (inUse.has(c) || d.pins.has(`chain:${c}`)) continue;
      await d.storage.deleteLayer({ chainId: c }, ctx).catch((err: unknown) => ctx.log.warn({ err, chainId: c }, 'could not remove a layer of a failed load'));
    }
    // A layer blob whose layer stays in storage is kept: a later pull or load finds the layer
    // ("Already exists") and its image must still have the blob.
    const layerKept = new Set<string>();
    for (let i = 0; i < layers.length; i++) {
      const kept = await d.storage.getLayer({ chainId: chains[i] }, ctx).then(() => true, (err: unknown) => !E.LayerNotFound.is(err));
      if (kept) layerKept.add(layers[i].digest);
    }
    for (const b of blobs) {
      if (layerKept.has(b)) continue;
      await d.locks.run(`blob:${b}`, async () => {
        if (!d.pins.has(`blob:${b}`) && !d.store.blobReferenced(b)) await d.content.remove(b);
      });
    }
    throw e;
  } finally {
    for (const k of pinned) d.pins.unpin(k);
  }
}
