import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { E, HostLimiters, KeyedMutex, newContext, type CallContext, type DaemonConfig, type Logger, type Progress } from '@conga/common';
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
  RegistryAuth,
  LoginRequest,
  LoginResponse,
  LogoutRequest,
  LogoutResponse,
  TagImageRequest,
  PushImageRequest,
  PushResult,
  PruneImagesRequest,
  PruneImagesResponse,
  SaveImagesRequest,
  SaveImagesResponse,
  LoadImagesRequest,
  LoadResult,
  ImportImageRequest,
} from '@conga/api';
import { AuthStore, registryKey, type Credentials } from './auth-store';
import { Pusher } from './pusher';
import { saveArchive } from './archive-save';
import { loadArchive } from './archive-load';
import { importRootfs } from './importer';
import type { RetryPolicy } from './registry-client';
import { ContentStore } from './content-store';
import { ImageStore } from './image-store';
import { PinSet } from './pins';
import { hostPlatform, platformString, type PlatformSpec } from './manifest';
import { collectGarbage, startupGc } from './gc';
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
  /** Registry retry policy (tests shorten it). */
  retry?: Partial<RetryPolicy>;
  /** Time allowed for a registry's response headers (default 8000 ms; tests shorten it). */
  headerTimeoutMs?: number;
  /** Per-registry TLS files (default /etc/conga/certs.d). */
  certsDir?: string;
  /** Push: blobs up to this size go in one PUT, larger ones in chunks of `pushChunkSize`. */
  pushMonolithicMax?: number;
  pushChunkSize?: number;
  /** Per-object locks; split mode passes one that also locks blobs across image-service processes (issue 7). */
  locks?: KeyedMutex;
}

/** Credentials from X-Registry-Auth, used only when they belong to `domain`. */
function credsOf(auth: RegistryAuth | undefined | null, domain: string): Credentials | undefined {
  if (!auth) return undefined;
  const c: Credentials = { username: auth.username ?? '', password: auth.password ?? '' };
  if (auth.identityToken) c.identityToken = auth.identityToken;
  if (auth.registryToken) c.registryToken = auth.registryToken;
  if (!c.username && !c.identityToken && !c.registryToken) return undefined;
  if (auth.serverAddress && registryKey(auth.serverAddress) !== registryKey(domain)) return undefined;
  return c;
}

/** True when the user wrote a tag (push without one pushes every tag of the repository). */
function hasExplicitTag(input: string): boolean {
  const name = input.split('@')[0];
  return name.lastIndexOf(':') > name.lastIndexOf('/');
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
  const auths = new AuthStore(opts.dir);
  const registry = new RegistryClient({
    insecureRegistries: opts.config['insecure-registries'] ?? [],
    mirrors: opts.config['registry-mirrors'] ?? [],
    credentials: (domain) => auths.get(domain),
    certsDir: opts.certsDir,
    retry: opts.retry,
    headerTimeoutMs: opts.headerTimeoutMs,
    // The socket-level idle guard stays behind the pull-no-progress-timeout rule, which names the layer.
    bodyIdleTimeoutMs: Math.max(60_000, 2000 * (opts.config['pull-no-progress-timeout'] ?? 30)),
    limits: new HostLimiters(opts.config['registry-rate-limits'] ?? {}),
    log: opts.log,
  });
  const locks = opts.locks ?? new KeyedMutex();
  // Pins are shared with the other image-service processes using this dir (split mode).
  const pins = new PinSet(join(opts.dir, 'pins'));
  pins.init();
  const puller = new Puller({
    registry,
    content,
    store,
    storage: opts.storage,
    log: opts.log,
    maxConcurrentDownloads: opts.config['max-concurrent-downloads'] ?? 3,
    locks,
    pins,
    watch: {
      noProgressMs: (opts.config['pull-no-progress-timeout'] ?? 30) * 1000,
      minBytesPerSecond: opts.config['pull-min-bytes-per-second'] ?? 1024,
      windowMs: (opts.config['pull-throughput-window'] ?? 60) * 1000,
    },
  });
  // Crash leftovers (a pull killed half-way): blobs and layers no image references.
  const gcDeps = { content, store, storage: opts.storage, pins, locks, log: opts.log };
  await startupGc(gcDeps, join(opts.dir, 'pins'), newContext());
  const pusher = new Pusher({ registry, content, store, monolithicMax: opts.pushMonolithicMax, chunkSize: opts.pushChunkSize });
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
        const run = Promise.resolve().then(() => puller.pull(ref, platform, emit, ctx, abort.signal, credsOf(req.auth, ref.domain)));
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

    async login(req: LoginRequest, ctx: CallContext): Promise<LoginResponse> {
      const key = registryKey(req.serverAddress ?? '');
      if (!req.username) throw E.InvalidArgument('a username is required to log in');
      if (!req.password) throw E.InvalidArgument('a password is required to log in (use --password-stdin to pass it safely)');
      const creds: Credentials = { username: req.username, password: req.password };
      await registry.checkLogin(key, creds, ctx.signal);
      auths.set(key, creds);
      ctx.log.info({ registry: key, username: req.username }, 'login succeeded; credentials stored');
      return { status: 'Login Succeeded', identityToken: '' };
    },

    async logout(req: LogoutRequest, ctx: CallContext): Promise<LogoutResponse> {
      const removed = auths.remove(req.serverAddress ?? '');
      ctx.log.info({ registry: registryKey(req.serverAddress ?? ''), removed }, 'logout');
      return { removed };
    },

    async tagImage(req: TagImageRequest, ctx: CallContext): Promise<Image> {
      const target = req.target ?? '';
      const ref = parseReference(target);
      if (ref.digest) throw E.InvalidReference(target, 'a tag cannot contain a digest; use repository[:tag]');
      const first = resolve(req.source ?? '');
      return locks.run(`image:${first.id}`, async () => {
        if (!store.get(first.id)) throw E.ImageNotFound(req.source ?? '');
        store.setTag(normalizedString(ref), first.id);
        ctx.log.info({ imageId: first.id, tag: normalizedString(ref) }, 'image tagged');
        return toImage(first.id);
      });
    },

    async pushImage(req: PushImageRequest, ctx: CallContext): Promise<PushResult> {
      if (closed) throw E.ServiceUnavailable('image', 'the service is closed');
      const input = req.reference ?? '';
      const ref = parseReference(input);
      if (ref.digest) throw E.InvalidReference(input, 'push a tag, not a digest');
      const tags = hasExplicitTag(input)
        ? [normalizedString(ref)]
        : store.allTags().map((t) => t.ref).filter((t) => fullName(parseReference(t)) === fullName(ref));
      const emit = (p: Progress) => ctx.onProgress?.(p);
      const display = familiarName(ref);
      if (tags.length === 0 || !store.tag(tags[0])) throw E.ImageNotFound(`An image does not exist locally with the tag: ${hasExplicitTag(input) ? familiarString(ref) : display}`);
      emit({ id: '', status: `The push refers to repository [${fullName(ref) === `docker.io/${ref.path}` ? `docker.io/${ref.path}` : fullName(ref)}]`, current: 0, total: 0 });
      const creds = credsOf(req.auth, ref.domain);
      let last: PushResult = { tag: '', digest: '', size: 0 };
      for (const t of tags) {
        const tref = parseReference(t);
        const id = store.tag(t);
        if (!id) throw E.ImageNotFound(familiarString(tref));
        const out = await locks.run(`push:${id}`, () => pusher.push(tref, id, emit, ctx, creds));
        emit({ id: '', status: `${out.tag}: digest: ${out.digest} size: ${out.size}`, current: 0, total: 0 });
        store.setDigest(`${fullName(tref)}@${out.digest}`, id);
        last = out;
      }
      return last;
    },

    async pruneImages(req: PruneImagesRequest, ctx: CallContext): Promise<PruneImagesResponse> {
      const inUse = new Set((req.inUseImageIds ?? []).map((x) => (x.startsWith('sha256:') ? x : `sha256:${x}`)));
      const until = req.until ? Date.parse(req.until) : undefined;
      if (req.until && Number.isNaN(until)) throw E.InvalidArgument(`prune filter until="${req.until}" is not a time (use RFC 3339 or a Unix timestamp)`);
      const labelMatch = (cfgJson: string): boolean => {
        if (!req.labels?.length) return true;
        let labels: Record<string, string> = {};
        try {
          labels = (JSON.parse(cfgJson)?.config?.Labels as Record<string, string>) ?? {};
        } catch {
          /* no labels */
        }
        return req.labels.every((f) => {
          const neg = f.startsWith('!');
          const [k, ...v] = (neg ? f.slice(1) : f).split('=');
          const hit = v.length ? labels[k] === v.join('=') : k in labels;
          return neg ? !hit : hit;
        });
      };
      const untagged: string[] = [];
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const r of store.list()) {
        if (inUse.has(r.id)) continue;
        if (!req.all && store.tagsOf(r.id).length > 0) continue;
        if (until !== undefined && Date.parse(r.created || '1970-01-01T00:00:00Z') >= until) continue;
        if (!labelMatch(r.configJson)) continue;
        await locks.run(`image:${r.id}`, async () => {
          if (!store.get(r.id)) return;
          for (const t of store.tagsOf(r.id)) untagged.push(familiarString(splitRef(t)));
          for (const d of store.digestsOf(r.id)) untagged.push(familiarString(splitRef(d)));
          const gone = await removeImage(r.id, ctx);
          deleted.push(...gone);
          reclaimed += r.size;
        });
      }
      // And whatever no image references any more (crash leftovers, layers of failed pulls).
      const gc = await collectGarbage(gcDeps, ctx, { layers: true });
      deleted.push(...gc.layers);
      return { untagged, deleted, spaceReclaimed: reclaimed };
    },

    async saveImages(req: SaveImagesRequest, ctx: CallContext): Promise<SaveImagesResponse> {
      const refs = (req.references ?? []).filter(Boolean);
      if (refs.length === 0) throw E.InvalidArgument('name at least one image to save');
      const items = refs.map((r) => {
        const res = resolve(r);
        return { id: res.id, tag: res.via === 'tag' ? res.ref : undefined };
      });
      return saveArchive({ content, store, path: req.path ?? '', format: req.format || 'docker-archive', items }, ctx);
    },

    async loadImages(req: LoadImagesRequest, ctx: CallContext): Promise<LoadResult> {
      if (closed) throw E.ServiceUnavailable('image', 'the service is closed');
      return loadArchive({ content, store, storage: opts.storage, locks, pins, path: req.path ?? '', dir: opts.dir }, ctx);
    },

    async importImage(req: ImportImageRequest, ctx: CallContext): Promise<Image> {
      if (closed) throw E.ServiceUnavailable('image', 'the service is closed');
      const id = await importRootfs(
        { content, store, storage: opts.storage, locks, pins, dir: opts.dir },
        { path: req.path ?? '', reference: req.reference ?? '', changes: req.changes ?? [], message: req.message ?? '', platform: req.platform ?? undefined },
        ctx,
      );
      return toImage(id);
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

