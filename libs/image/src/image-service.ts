import { mkdir } from 'node:fs/promises';
import { E, KeyedMutex, type CallContext, type DaemonConfig, type Logger, type Progress } from '@conga/common';
import type {
  DeleteImageRequest,
  DeleteImageResponse,
  GetImageRequest,
  Image,
  ImageService,
  ListImagesRequest,
  ListImagesResponse,
  PullImageRequest,
  StorageService,
} from '@conga/api';
import { ContentStore } from './content-store';
import { ImageStore } from './image-store';
import { PinSet } from './pins';
import { hostPlatform, platformString, type PlatformSpec } from './manifest';
import { Puller } from './puller';
import { familiarName, familiarString, fullName, isFullImageId, normalizedString, parseReference, type ImageReference } from './reference';
import { RegistryClient } from './registry-client';

/** Options of {@link createImageService}. */
export interface ImageServiceOptions {
  /** State dir, normally `<root>/image` (content store, ingest, images.db). */
  dir: string;
  storage: StorageService;
  config: Readonly<DaemonConfig>;
  log: Logger;
}

/** The in-process image service plus `close()` (idempotent). */
export type LocalImageService = ImageService & {
  close(): Promise<void>;
  /** Where the content store keeps blobs and staging files (tests and GC look here). */
  readonly contentDir: string;
};

interface InFlight {
  promise: Promise<string>;
  listeners: Set<(p: Progress) => void>;
  callers: number;
  abort: AbortController;
}

/** How a user string resolved to an image. */
interface Resolved {
  id: string;
  via: 'tag' | 'digest' | 'id';
  /** Normalised tag or digest reference when via tag/digest. */
  ref?: string;
}

function splitRef(normalized: string): ImageReference {
  return parseReference(normalized);
}

/**
 * Create the image service: registry client, content store `<dir>/blobs/sha256`, metadata in
 * `<dir>/images.db`. Layers are unpacked through `storage`. Owned by the image service engineer;
 * options may grow.
 */
export async function createImageService(opts: ImageServiceOptions): Promise<LocalImageService> {
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const content = new ContentStore(opts.dir);
  await content.init();
  const store = new ImageStore(opts.dir);
  const registry = new RegistryClient({ insecureRegistries: opts.config['insecure-registries'] ?? [], log: opts.log });
  const locks = new KeyedMutex();
  const pins = new PinSet();
  const puller = new Puller({
    registry,
    content,
    store,
    storage: opts.storage,
    log: opts.log,
    maxConcurrentDownloads: opts.config['max-concurrent-downloads'] ?? 3,
    locks,
    pins,
  });
  const inflight = new Map<string, InFlight>();
  let closed = false;

  const toImage = (id: string): Image => {
    const r = store.get(id);
    if (!r) throw E.ImageNotFound(id);
    return {
      id: r.id,
      repoTags: store.tagsOf(id).map((t) => familiarString(splitRef(t))),
      repoDigests: store.digestsOf(id).map((t) => familiarString(splitRef(t))),
      created: r.created,
      size: r.size,
      configJson: r.configJson,
      diffIds: r.diffIds,
      chainIds: r.chainIds,
      manifestDigest: r.manifestDigest,
      platform: { os: r.os, architecture: r.architecture, variant: r.variant },
    };
  };

  const resolve = (input: string): Resolved => {
    if (!input) throw E.InvalidArgument('an image reference or ID is required');
    if (isFullImageId(input)) {
      const id = input.startsWith('sha256:') ? input : `sha256:${input}`;
      if (store.get(id)) return { id, via: 'id' };
      throw E.ImageNotFound(input);
    }
    let parseErr: unknown;
    try {
      const ref = parseReference(input);
      if (ref.digest) {
        const norm = `${fullName(ref)}@${ref.digest}`;
        const id = store.digestRef(norm);
        if (id && (!ref.tag || store.tag(normalizedString({ domain: ref.domain, path: ref.path, tag: ref.tag })) === id)) {
          return { id, via: 'digest', ref: norm };
        }
      } else {
        const norm = normalizedString(ref);
        const id = store.tag(norm);
        if (id) return { id, via: 'tag', ref: norm };
      }
    } catch (e) {
      parseErr = e;
    }
    const m = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(input);
    if (m) {
      const ids = store.byPrefix(m[1]);
      if (ids.length === 1) return { id: ids[0], via: 'id' };
      if (ids.length > 1) throw E.AmbiguousId(input);
    }
    if (parseErr && !m) throw parseErr;
    throw E.ImageNotFound(input);
  };

  /** Delete the image row, then blobs and layers nobody else uses. Caller holds image:<id>. */
  const removeImage = async (id: string, ctx: CallContext): Promise<string[]> => {
    const rec = store.get(id);
    if (!rec) return [];
    const blobs = store.blobsOnlyOf(id);
    const otherChains = store.chainIdsInUse(id);
    store.remove(id);
    const deleted = [id];
    for (const dg of blobs) {
      await locks.run(`blob:${dg}`, async () => {
        if (!pins.has(`blob:${dg}`) && !store.blobReferenced(dg)) await content.remove(dg);
      });
    }
    for (const c of [...rec.chainIds].reverse()) {
      if (otherChains.has(c)) break; // lower layers are shared too
      const gone = await locks.run(`chain:${c}`, async () => {
        if (pins.has(`chain:${c}`) || store.chainIdsInUse('').has(c)) return false;
        try {
          await opts.storage.deleteLayer({ chainId: c }, ctx);
          return true;
        } catch (e) {
          if (E.LayerInUse.is(e) || E.LayerNotFound.is(e)) {
            ctx.log.debug({ chainId: c, err: e }, 'layer kept');
            return false;
          }
          throw e;
        }
      });
      if (!gone) break;
      deleted.push(c);
    }
    ctx.log.info({ imageId: id, deleted }, 'image deleted');
    return deleted;
  };

  const svc: LocalImageService = {
    contentDir: opts.dir,

    async pullImage(req: PullImageRequest, ctx: CallContext): Promise<Image> {
      if (closed) throw E.ServiceUnavailable('image', 'the service is closed');
      const ref = parseReference(req.reference ?? '');
      const host = hostPlatform();
      const platform: PlatformSpec = {
        os: req.platform?.os || host.os,
        architecture: req.platform?.architecture || host.architecture,
        variant: req.platform?.variant || (req.platform?.architecture ? '' : host.variant),
      };
      const key = `${normalizedString(ref)}|${platformString(platform)}`;
      let f = inflight.get(key);
      if (!f) {
        const listeners = new Set<(p: Progress) => void>();
        const abort = new AbortController();
        const emit = (p: Progress) => {
          for (const l of listeners) {
            try {
              l(p);
            } catch {
              /* a listener's failure must not break the pull */
            }
          }
        };
        ctx.log.info({ ref: normalizedString(ref), platform: platformString(platform) }, 'pulling image');
        // Start on the next tick so that this caller's listener (added below) sees every event.
        const run = Promise.resolve().then(() => puller.pull(ref, platform, emit, ctx, abort.signal));
        const created: InFlight = { promise: run, listeners, callers: 0, abort };
        f = created;
        inflight.set(key, created);
        void created.promise.then(
          () => inflight.delete(key),
          () => inflight.delete(key),
        );
      }
      const entry = f;
      const listener = ctx.onProgress;
      if (listener) entry.listeners.add(listener);
      entry.callers++;
      const onAbort = () => {
        if (--entry.callers === 0) entry.abort.abort();
      };
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const id = await new Promise<string>((resolvePromise, reject) => {
          entry.promise.then(resolvePromise, reject);
          if (ctx.signal) {
            if (ctx.signal.aborted) reject(E.Canceled(`pull of ${familiarString(ref)}`));
            ctx.signal.addEventListener('abort', () => reject(E.Canceled(`pull of ${familiarString(ref)}`)), { once: true });
          }
        });
        return toImage(id);
      } finally {
        ctx.signal?.removeEventListener('abort', onAbort);
        if (listener) entry.listeners.delete(listener);
      }
    },

    async getImage(req: GetImageRequest, _ctx: CallContext): Promise<Image> {
      return toImage(resolve(req.reference ?? '').id);
    },

    async listImages(req: ListImagesRequest, _ctx: CallContext): Promise<ListImagesResponse> {
      const filters = (req.references ?? []).filter(Boolean);
      const matchers = filters.map((f) => {
        if (/[*?]/.test(f)) {
          const re = new RegExp(`^${f.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
          return (tag: ImageReference) => re.test(familiarString(tag)) || re.test(familiarName(tag)) || re.test(normalizedString(tag));
        }
        const want = parseReference(f);
        const tagGiven = /:[^/]*$/.test(f.split('@')[0]) && !/^[^/]*:\d+\/[^:]*$/.test(f);
        return (tag: ImageReference) => fullName(tag) === fullName(want) && (!tagGiven || tag.tag === want.tag);
      });
      const images: Image[] = [];
      for (const r of store.list()) {
        if (matchers.length > 0) {
          const tags = store.tagsOf(r.id).map(splitRef);
          if (!tags.some((t) => matchers.some((m) => m(t)))) continue;
        }
        images.push(toImage(r.id));
      }
      return { images };
    },

    async deleteImage(req: DeleteImageRequest, ctx: CallContext): Promise<DeleteImageResponse> {
      const input = req.reference ?? '';
      const force = Boolean(req.force);
      const inUse = new Set((req.inUseImageIds ?? []).map((x) => (x.startsWith('sha256:') ? x : `sha256:${x}`)));
      const first = resolve(input);
      return locks.run(`image:${first.id}`, async () => {
        // Re-resolve under the lock: the image may have changed meanwhile.
        const r = resolve(input);
        if (r.id !== first.id) throw E.ImageNotFound(input);
        const id = r.id;
        const untagged: string[] = [];
        const used = inUse.has(id);
        if (r.via === 'tag' || r.via === 'digest') {
          const tags = store.tagsOf(id);
          const digests = store.digestsOf(id);
          const remaining = r.via === 'tag' ? tags.filter((t) => t !== r.ref).length : tags.length + digests.filter((d) => d !== r.ref).length;
          if (remaining === 0 && used && !force) throw E.ImageInUse(input, `(image ${id.slice(7, 19)} is in use by one or more containers)`);
          if (r.via === 'tag') store.untag(r.ref!);
          else store.undigest(r.ref!);
          untagged.push(familiarString(splitRef(r.ref!)));
          if (remaining > 0) return { untagged, deleted: [] };
          // Last tag gone: docker drops the image's digest references too, then the image.
          for (const d of store.digestsOf(id)) {
            store.undigest(d);
            untagged.push(familiarString(splitRef(d)));
          }
          if (used) return { untagged, deleted: [] };
          return { untagged, deleted: await removeImage(id, ctx) };
        }
        // By id.
        if (used && !force) throw E.ImageInUse(input, `(image ${id.slice(7, 19)} is in use by one or more containers)`);
        const tags = store.tagsOf(id);
        const repos = new Set(tags.map((t) => fullName(splitRef(t))));
        if (repos.size > 1 && !force) throw E.ImageReferencedInMultipleRepos(input);
        for (const t of tags) {
          store.untag(t);
          untagged.push(familiarString(splitRef(t)));
        }
        for (const d of store.digestsOf(id)) {
          store.undigest(d);
          untagged.push(familiarString(splitRef(d)));
        }
        if (used) return { untagged, deleted: [] };
        return { untagged, deleted: await removeImage(id, ctx) };
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const f of inflight.values()) f.abort.abort();
      await Promise.allSettled([...inflight.values()].map((f) => f.promise));
      registry.close();
      store.close();
    },
  };
  return svc;
}

