import { createHash } from 'node:crypto';
import { E, KeyedMutex, isCongaError, type CallContext, type Logger, type Progress } from '@conga/common';
import type { StorageService } from '@conga/api';
import type { ContentStore, DownloadWatch } from './content-store';
import type { ImageRecord, ImageStore } from './image-store';
import { LayerFeed } from './layer-feed';
import { PinSet, Semaphore } from './pins';
import { parseManifest, platformString, selectPlatform, type Descriptor, type PlatformSpec } from './manifest';
import { familiarName, familiarString, fullName, normalizedString, type ImageReference } from './reference';
import type { RegistryClient, RepoLocation } from './registry-client';
import type { Credentials } from './auth-store';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** chain(L0)=diff(L0); chain(Ln)=sha256(chain(Ln-1) + " " + diff(Ln)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

/** Shared state of the image service that pulls and deletes coordinate on. Internal. */
export interface PullDeps {
  registry: RegistryClient;
  content: ContentStore;
  store: ImageStore;
  storage: StorageService;
  log: Logger;
  maxConcurrentDownloads: number;
  /** Keys "blob:<digest>", "chain:<id>", "image:<id>". */
  locks: KeyedMutex;
  /** Blobs and chain ids used by running pulls ("blob:…", "chain:…"): deletes leave them alone. */
  pins: PinSet;
  /** daemon.json's no-progress and minimum-throughput rules for blob downloads. */
  watch?: Omit<DownloadWatch, 'fail'>;
}

type Emit = (p: Progress) => void;

const shortId = (digest: string) => digest.slice(7, 19);

/** Throttled "Downloading" events: at most one per 100 ms per layer (plus the last). */
function throttled(emit: Emit, id: string, total: number): (n: number) => void {
  let last = 0;
  return (n) => {
    const now = Date.now();
    if (now - last >= 100 || n === total) {
      last = now;
      emit({ id, status: 'Downloading', current: n, total });
    }
  };
}

/**
 * One pull: resolve the manifest, fetch config and layers (parallel, verified) into the content
 * store, apply layers in order through the storage service, then write the image row.
 * Identical concurrent pulls are joined by the caller (image-service.ts), not here.
 */
export class Puller {
  private readonly downloads = new Map<string, Promise<string>>();
  private readonly applies = new Map<string, Promise<{ size: number }>>();
  /** Those of {@link applies} that unpack as the blob streams (they may fail and be redone). */
  private readonly streamedApplies = new WeakSet<Promise<{ size: number }>>();
  private readonly sem: Semaphore;

  constructor(private readonly d: PullDeps) {
    this.sem = new Semaphore(d.maxConcurrentDownloads);
  }

  /**
   * Fetch a blob into the content store once (shared by concurrent pulls); resolves to its path.
   * `onStart` runs when this call is the one that downloads it; only then does `onChunk` see the
   * bytes as they arrive.
   */
  private fetchBlob(
    loc: RepoLocation, desc: Descriptor, what: string, signal: AbortSignal,
    onBytes?: (n: number) => void, onStart?: () => void, onChunk?: (chunk: Buffer, offset: number) => Promise<void> | undefined,
  ): Promise<string> {
    const existing = this.downloads.get(desc.digest);
    if (existing) return existing;
    // Under the blob's lock so that a concurrent delete of the same blob is ordered with us.
    const p = this.d.locks.run(`blob:${desc.digest}`, async () => {
      if (await this.d.content.has(desc.digest)) return this.d.content.path(desc.digest);
      return this.sem.run(async () => {
        if (signal.aborted) throw E.Canceled(`download of ${desc.digest}`);
        onStart?.();
        try {
          return await this.d.content.ingestResumable(
            async (offset, sig) => {
              const r = await this.d.registry.openBlob(loc, desc.digest, sig ?? signal, offset);
              return { stream: r.res, offset: r.offset };
            },
            desc.digest,
            {
              size: desc.size,
              what,
              onBytes,
              onChunk,
              signal,
              onResume: (offset, err) => this.d.log.info({ digest: desc.digest, offset, err: (err as Error).message }, 'download broke off; resuming'),
              watch: this.d.watch && { ...this.d.watch, fail: (detail) => E.PullStalled(loc.domain, what, detail) },
            },
          );
        } catch (e) {
          if (isCongaError(e)) throw e;
          if (signal.aborted) throw E.Canceled(`download of ${desc.digest}`);
          throw E.RegistryUnreachable(loc.domain, `download of ${desc.digest} failed: ${(e as Error).message}`);
        }
      });
    });
    this.downloads.set(desc.digest, p);
    void p.then(
      () => this.downloads.delete(desc.digest),
      () => this.downloads.delete(desc.digest),
    );
    return p;
  }

  /** Apply one layer once (concurrent pulls of images sharing it wait for the same apply). */
  private applyLayer(req: { chainId: string; parentChainId: string; diffId: string; blobPath: string; blobSocket?: string; mediaType: string }, ctx: CallContext): Promise<{ size: number }> {
    const existing = this.applies.get(req.chainId);
    if (existing) return existing;
    const p = this.d.storage.applyLayer(req, ctx).then((l) => ({ size: Number(l.size) }));
    if (req.blobSocket) this.streamedApplies.add(p);
    this.applies.set(req.chainId, p);
    void p.then(
      () => this.applies.delete(req.chainId),
      () => this.applies.delete(req.chainId),
    );
    return p;
  }

  /** Another pull's streamed apply of this layer, in flight. */
  private streamedApply(chainId: string): Promise<{ size: number }> | undefined {
    const p = this.applies.get(chainId);
    return p && this.streamedApplies.has(p) ? p : undefined;
  }

  private async layerSize(chainId: string, ctx: CallContext): Promise<number | undefined> {
    try {
      return Number((await this.d.storage.getLayer({ chainId }, ctx)).size);
    } catch (e) {
      if (E.LayerNotFound.is(e)) return undefined;
      throw e;
    }
  }

  /** Run a pull to completion. `emit` fans progress out to every joined caller. */
  async pull(ref: ImageReference, platform: PlatformSpec, emit: Emit, ctx: CallContext, signal: AbortSignal, creds?: Credentials): Promise<string> {
    const display = familiarString(ref);
    const tagOrDigest = ref.digest ?? ref.tag!;
    const pinned: string[] = [];
    const pin = (k: string) => {
      this.d.pins.pin(k);
      pinned.push(k);
    };
    const fetched: string[] = [];
    /** Chain id of each layer blob of this pull (for the cleanup after a failure). */
    const chainOf = new Map<string, string>();
    /** Layers this pull applied (removed again when it fails and nobody else uses them). */
    const applied: string[] = [];
    /** The image's chain ids, base first (cleanup removes children before parents). */
    let layerOrder: string[] = [];
    try {
      emit({ id: tagOrDigest, status: `Pulling from ${ref.path}`, current: 0, total: 0 });
      // 1. manifest (maybe via an index)
      const top = await this.d.registry.getManifest({ domain: ref.domain, path: ref.path, creds }, tagOrDigest, display, signal);
      // Everything else comes from the endpoint that served the manifest (a mirror or the registry).
      const loc: RepoLocation = { domain: ref.domain, path: ref.path, creds, endpoint: top.endpoint };
      const topDigest = sha256(top.body);
      if (ref.digest && topDigest !== ref.digest) throw E.DigestMismatch(`manifest ${display}`, ref.digest, topDigest);
      let parsed = parseManifest(top.body, top.mediaType, display);
      const manifestBlobs: Array<[string, Buffer]> = [[topDigest, top.body]];
      if (parsed.kind === 'index') {
        const pick = selectPlatform(parsed, platform, display);
        const child = await this.d.registry.getManifest(loc, pick.digest, `${familiarName(ref)}@${pick.digest}`, signal);
        const childDigest = sha256(child.body);
        if (childDigest !== pick.digest) throw E.DigestMismatch(`manifest ${familiarName(ref)}@${pick.digest}`, pick.digest, childDigest);
        parsed = parseManifest(child.body, child.mediaType, display);
        if (parsed.kind !== 'manifest') throw E.UnsupportedManifest(display, `${parsed.mediaType} nested in an index`);
        manifestBlobs.push([childDigest, child.body]);
      }
      const manifest = parsed;
      for (const [dg] of manifestBlobs) pin(`blob:${dg}`);
      pin(`blob:${manifest.config.digest}`);
      for (const l of manifest.layers) pin(`blob:${l.digest}`);

      // 2. config
      const hadConfig = await this.d.content.has(manifest.config.digest);
      await this.fetchBlob(loc, manifest.config, `config of ${display}`, signal);
      if (!hadConfig) fetched.push(manifest.config.digest);
      const configBuf = await this.d.content.read(manifest.config.digest);
      let config: { created?: string; os?: string; architecture?: string; variant?: string; rootfs?: { diff_ids?: unknown } };
      try {
        config = JSON.parse(configBuf.toString('utf8'));
      } catch (e) {
        throw E.InvalidImageConfig(display, `the image config is not JSON: ${(e as Error).message}`);
      }
      const diffIds = config.rootfs?.diff_ids;
      if (!Array.isArray(diffIds) || diffIds.some((x) => typeof x !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(x))) {
        throw E.InvalidImageConfig(display, 'rootfs.diff_ids is missing or holds invalid digests');
      }
      if (diffIds.length !== manifest.layers.length) {
        throw E.InvalidImageConfig(display, `the manifest has ${manifest.layers.length} layers but the config lists ${diffIds.length} diff_ids`);
      }
      const imageId = manifest.config.digest;
      const chains = chainIds(diffIds as string[]);
      layerOrder = chains;
      manifest.layers.forEach((l, i) => chainOf.set(l.digest, chains[i]));

      const tagRef = ref.tag ? normalizedString({ domain: ref.domain, path: ref.path, tag: ref.tag }) : undefined;
      const digestRef = `${fullName(ref)}@${topDigest}`;

      // 3. layers + commit, serialised per image id (a delete of the same image waits).
      const upToDate = await this.d.locks.run(`image:${imageId}`, async () => {
        const before = this.d.store.get(imageId);
        const pointed = before && (tagRef ? this.d.store.tag(tagRef) === imageId : this.d.store.digestRef(digestRef) === imageId);
        const quiet = Boolean(pointed);
        const say: Emit = quiet ? () => {} : emit;

        // Pin chain ids under their locks, then see which layers exist. A layer counts as
        // present only with its blob: the image keeps referencing the blob (push, save), so a
        // layer whose blob is gone gets its blob fetched again (without applying it again).
        const known: Array<number | undefined> = [];
        const exists: Array<number | undefined> = [];
        for (let i = 0; i < chains.length; i++) {
          const c = chains[i];
          const size = await this.d.locks.run(`chain:${c}`, async () => {
            pin(`chain:${c}`);
            return this.layerSize(c, ctx);
          });
          known.push(size);
          exists.push(size !== undefined && (await this.d.content.has(manifest.layers[i].digest)) ? size : undefined);
        }
        const ac = new AbortController();
        const onAbort = () => ac.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        const downloads: Array<Promise<string> | undefined> = [];
        // Layers unpacked while they download (see LayerFeed); a failed one is applied again
        // from its verified file below.
        const streamed: Array<Promise<{ size: number }> | undefined> = [];
        const applyCtx: CallContext = { ...ctx, signal: ac.signal };
        // The root cause when one download fails and the others are canceled because of it.
        let firstError: unknown;
        try {
          manifest.layers.forEach((l, i) => {
            const id = shortId(l.digest);
            if (exists[i] !== undefined) {
              say({ id, status: 'Already exists', current: 0, total: 0 });
              downloads.push(undefined);
              return;
            }
            say({ id, status: 'Pulling fs layer', current: 0, total: 0 });
            const p = (async () => {
              const had = await this.d.content.has(l.digest);
              if (!had) say({ id, status: 'Waiting', current: 0, total: 0 });
              let feed: LayerFeed | undefined;
              if (!had && known[i] === undefined && !this.applies.has(chains[i])) {
                const f = (feed = new LayerFeed(this.d.content.ingestDir));
                const req = { chainId: chains[i], parentChainId: i === 0 ? '' : chains[i - 1], diffId: diffIds[i] as string, blobPath: '', blobSocket: f.path, mediaType: l.mediaType };
                const sp = this.applyLayer(req, applyCtx);
                sp.then(() => applied.push(req.chainId), () => f.giveUp());
                streamed[i] = sp;
              }
              let fed = false;
              try {
                const path = await this.fetchBlob(
                  loc, l, `layer ${l.digest} of ${display}`, ac.signal, throttled(say, id, l.size),
                  () => {
                    fetched.push(l.digest);
                    fed = true;
                  },
                  feed && ((chunk, offset) => feed!.feed(chunk, offset)),
                );
                // Bytes this call did not download (already stored, or another pull's download)
                // never went through the feed: that layer is applied from the file.
                if (fed) feed?.end();
                else feed?.giveUp();
                if (!had) say({ id, status: 'Verifying Checksum', current: 0, total: 0 });
                say({ id, status: 'Download complete', current: 0, total: 0 });
                return path;
              } catch (e) {
                feed?.giveUp();
                throw e;
              }
            })();
            p.catch((e: unknown) => {
              if (!E.Canceled.is(e)) firstError ??= e;
              ac.abort();
            });
            downloads.push(p);
          });
          const sizes: number[] = [];
          for (let i = 0; i < manifest.layers.length; i++) {
            if (exists[i] !== undefined) {
              sizes.push(exists[i]!);
              continue;
            }
            const l = manifest.layers[i];
            const blobPath = await downloads[i]!;
            if (signal.aborted) throw E.Canceled(`pull of ${display}`);
            if (known[i] !== undefined) {
              // The layer was there, only its blob was missing: now it is back.
              sizes.push(known[i]!);
              say({ id: shortId(l.digest), status: 'Pull complete', current: 0, total: 0 });
              continue;
            }
            say({ id: shortId(l.digest), status: 'Extracting', current: 0, total: l.size });
            // A streamed apply (ours, or another pull's of the same layer) that failed is not the
            // last word: the layer is applied from its verified file.
            let done = await (streamed[i] ?? this.streamedApply(chains[i]))?.catch((e: unknown) => {
              if (ac.signal.aborted) throw e;
              ctx.log.debug({ chainId: chains[i], err: e }, 'the layer could not be unpacked as it streamed; applying it from its file');
              return undefined;
            });
            done ??= await this.applyLayer(
              { chainId: chains[i], parentChainId: i === 0 ? '' : chains[i - 1], diffId: diffIds[i] as string, blobPath, mediaType: l.mediaType },
              ctx,
            );
            applied.push(chains[i]);
            sizes.push(done.size);
            say({ id: shortId(l.digest), status: 'Pull complete', current: 0, total: 0 });
          }
          for (const [dg, body] of manifestBlobs) await this.d.content.put(dg, body, `manifest ${dg}`);
          const rec: ImageRecord = {
            id: imageId,
            configJson: configBuf.toString('utf8'),
            manifestDigest: topDigest,
            diffIds: diffIds as string[],
            chainIds: chains,
            size: sizes.reduce((a, b) => a + b, 0),
            created: typeof config.created === 'string' ? config.created : '',
            os: typeof config.os === 'string' ? config.os : platform.os,
            architecture: typeof config.architecture === 'string' ? config.architecture : platform.architecture,
            variant: typeof config.variant === 'string' ? config.variant : '',
            blobs: [...manifestBlobs.map(([dg]) => dg), manifest.config.digest, ...manifest.layers.map((l) => l.digest)],
          };
          this.d.store.commit(rec, tagRef, digestRef);
          return quiet;
        } catch (e) {
          ac.abort();
          await Promise.allSettled([...downloads, ...streamed].filter(Boolean));
          throw E.Canceled.is(e) && firstError !== undefined ? firstError : e;
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      });
      emit({ id: '', status: `Digest: ${topDigest}`, current: 0, total: 0 });
      emit({ id: '', status: upToDate ? `Status: Image is up to date for ${display}` : `Status: Downloaded newer image for ${display}`, current: 0, total: 0 });
      return imageId;
    } catch (e) {
      // Leave nothing behind: layers this pull applied and blobs it fetched that no image
      // references and no pull (in any image-service process) uses. A layer blob whose layer
      // stays in storage stays too: a later pull finds the layer ("Already exists") and its
      // image must still have the blob.
      for (const k of pinned) this.d.pins.unpin(k);
      pinned.length = 0;
      const rank = (c: string) => layerOrder.indexOf(c);
      for (const c of [...new Set(applied)].sort((a, b) => rank(b) - rank(a))) {
        await this.d.locks.run(`chain:${c}`, async () => {
          if (this.d.pins.has(`chain:${c}`) || this.d.store.chainIdsInUse('').has(c)) return;
          await this.d.storage.deleteLayer({ chainId: c }, ctx).catch((err: unknown) => ctx.log.debug({ chainId: c, err }, 'layer of a failed pull kept'));
        });
      }
      for (const dg of fetched) {
        const chain = chainOf.get(dg);
        try {
          if (chain !== undefined && (await this.layerSize(chain, ctx)) !== undefined) continue;
        } catch (err) {
          ctx.log.warn({ digest: dg, err }, 'could not check the layer of a failed pull: its blob is kept');
          continue;
        }
        await this.d.locks.run(`blob:${dg}`, async () => {
          if (!this.d.pins.has(`blob:${dg}`) && !this.d.store.blobReferenced(dg)) await this.d.content.remove(dg);
        });
      }
      if (signal.aborted && !isCongaError(e)) throw E.Canceled(`pull of ${display}`);
      throw e;
    } finally {
      for (const k of pinned) this.d.pins.unpin(k);
    }
  }
}

export { platformString };
