import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { E, type CallContext, type Progress } from '@conga/common';
import type { Credentials } from './auth-store';
import type { ContentStore } from './content-store';
import type { ImageStore } from './image-store';
import { parseManifest, type Descriptor, type ImageManifest } from './manifest';
import { Semaphore } from './pins';
import { fullName, parseReference, type ImageReference } from './reference';
import type { RegistryClient, RepoLocation } from './registry-client';

type Emit = (p: Progress) => void;

/** Options of {@link Pusher}. */
export interface PusherDeps {
  registry: RegistryClient;
  content: ContentStore;
  store: ImageStore;
  /** Blobs up to this size go in one PUT; larger ones in PATCH chunks of `chunkSize`. Default 32 MiB. */
  monolithicMax?: number;
  /** Chunk size of chunked uploads. Default 16 MiB. */
  chunkSize?: number;
  /** Parallel blob uploads. Default 3. */
  concurrency?: number;
}

/** What one tag's push produced. */
export interface PushOutcome {
  tag: string;
  digest: string;
  size: number;
}

/**
 * The image manifest of an image as stored: the record's manifest, or the child of its index
 * whose config is the image. Throws when the image has none (should not happen: load and import
 * write one).
 */
export async function imageManifest(content: ContentStore, store: ImageStore, id: string): Promise<{ body: Buffer; manifest: ImageManifest }> {
  const rec = store.get(id);
  if (!rec) throw E.ImageNotFound(id);
  const tryDigest = async (dg: string): Promise<{ body: Buffer; manifest: ImageManifest } | undefined> => {
    if (!dg || !(await content.has(dg))) return undefined;
    const st = await stat(content.path(dg));
    if (st.size > 8 << 20) return undefined;
    const body = await content.read(dg);
    let m;
    try {
      m = parseManifest(body, '', id);
    } catch {
      return undefined;
    }
    if (m.kind === 'manifest') return m.config.digest === id ? { body, manifest: m } : undefined;
    for (const child of m.manifests) {
      const got = await tryDigest(child.digest);
      if (got) return got;
    }
    return undefined;
  };
  const found = (await tryDigest(rec.manifestDigest)) ?? (await Promise.all(store.blobsOf(id).map((b) => (b === id ? undefined : tryDigest(b))))).find(Boolean);
  if (!found) throw E.InvalidImageConfig(id, 'no manifest is stored for this image; pull, load or import it again');
  return found;
}

/**
 * Pushes images to a registry: HEAD each blob, try a cross-repository mount from a repository of
 * the same registry the image came from, else upload (one PUT, or PATCH chunks for large blobs),
 * then PUT the manifest under the tag. Progress is docker's push stream. Internal to libs/image.
 */
export class Pusher {
  private readonly monolithicMax: number;
  private readonly chunkSize: number;
  private readonly sem: Semaphore;

  constructor(private readonly d: PusherDeps) {
    this.monolithicMax = d.monolithicMax ?? 32 << 20;
    this.chunkSize = d.chunkSize ?? 16 << 20;
    this.sem = new Semaphore(d.concurrency ?? 3);
  }

  /** Push image `id` as `ref` (which carries the tag). */
  async push(ref: ImageReference, id: string, emit: Emit, ctx: CallContext, creds?: Credentials): Promise<PushOutcome> {
    const signal = ctx.signal;
    const loc: RepoLocation = { domain: ref.domain, path: ref.path, creds };
    const { body, manifest } = await imageManifest(this.d.content, this.d.store, id);
    // Repositories of the same registry this image is known in: candidates for a cross-repo mount.
    const sources = [...this.d.store.digestsOf(id), ...this.d.store.tagsOf(id)]
      .map((r) => parseReference(r))
      .filter((r) => r.domain === ref.domain && r.path !== ref.path)
      .map((r) => r.path);
    const short = (d: string) => d.slice(7, 19);
    for (const l of manifest.layers) emit({ id: short(l.digest), status: 'Preparing', current: 0, total: 0 });
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const jobs = manifest.layers.map((l) =>
        this.sem.run(() => this.pushBlob(loc, l, [...new Set(sources)], emit, ac.signal, true)).catch((e: unknown) => {
          ac.abort();
          throw e;
        }),
      );
      const settled = await Promise.allSettled(jobs);
      const failed = settled.find((r) => r.status === 'rejected' && !E.Canceled.is(r.reason)) ?? settled.find((r) => r.status === 'rejected');
      if (failed && failed.status === 'rejected') throw failed.reason;
      await this.pushBlob(loc, manifest.config, sources, emit, ac.signal, false);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const tag = ref.tag ?? 'latest';
    const reported = await this.d.registry.putManifest(loc, tag, body, manifest.mediaType, signal);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (reported && reported !== digest) throw E.DigestMismatch(`manifest pushed to ${fullName(ref)}:${tag}`, digest, reported);
    ctx.log.info({ ref: `${fullName(ref)}:${tag}`, digest }, 'image pushed');
    return { tag, digest, size: body.length };
  }

  private async pushBlob(loc: RepoLocation, desc: Descriptor, sources: string[], emit: Emit, signal: AbortSignal, show: boolean): Promise<void> {
    const id = desc.digest.slice(7, 19);
    const say: Emit = show ? emit : () => {};
    if (signal.aborted) throw E.Canceled(`push of ${desc.digest}`);
    if ((await this.d.registry.blobSize(loc, desc.digest, signal)) !== undefined) {
      say({ id, status: 'Layer already exists', current: 0, total: 0 });
      return;
    }
    for (const from of sources) {
      const r = await this.d.registry.startUpload(loc, signal, { digest: desc.digest, from });
      if (r.mounted) {
        say({ id, status: `Mounted from ${from}`, current: 0, total: 0 });
        return;
      }
      // The registry opened an ordinary upload instead: use it.
      await this.upload(loc, r.location, desc, say, signal);
      return;
    }
    const r = await this.d.registry.startUpload(loc, signal);
    if (r.mounted) return;
    await this.upload(loc, r.location, desc, say, signal);
  }

  private async upload(loc: RepoLocation, location: URL, desc: Descriptor, say: Emit, signal: AbortSignal): Promise<void> {
    const id = desc.digest.slice(7, 19);
    const file = this.d.content.path(desc.digest);
    const size = (await stat(file)).size;
    let sent = 0;
    let last = 0;
    const progress = (n: number) => {
      sent = n;
      const now = Date.now();
      if (now - last >= 100 || n === size) {
        last = now;
        say({ id, status: 'Pushing', current: sent, total: size });
      }
    };
    if (size <= this.monolithicMax) {
      await this.d.registry.finishUpload(
        loc,
        location,
        desc.digest,
        {
          size,
          open: () => {
            const s = createReadStream(file);
            let n = 0;
            s.on('data', (c) => progress((n += c.length)));
            return s;
          },
        },
        signal,
      );
    } else {
      const fh = await open(file, 'r');
      try {
        let at = location;
        for (let off = 0; off < size; off += this.chunkSize) {
          const len = Math.min(this.chunkSize, size - off);
          const buf = Buffer.alloc(len);
          await fh.read(buf, 0, len, off);
          at = await this.d.registry.uploadChunk(loc, at, buf, off, signal);
          progress(off + len);
        }
        await this.d.registry.finishUpload(loc, at, desc.digest, undefined, signal);
      } finally {
        await fh.close();
      }
    }
    say({ id, status: 'Pushed', current: 0, total: 0 });
  }
}
