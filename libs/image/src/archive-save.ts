import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { E, type CallContext } from '@conga/common';
import type { SaveImagesResponse } from '@conga/api';
import { decompressor, sniffCompression } from '@conga/storage/src/decompress';
import type { ContentStore } from './content-store';
import type { ImageStore } from './image-store';
import { imageManifest } from './pusher';
import { MEDIA } from './registry-client';
import { familiarString, parseReference } from './reference';

const hex = (d: string) => d.slice(7);
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** One image to save: its id and, when named by tag, that tag (normalized). */
export interface SaveItem {
  id: string;
  tag?: string;
}

interface Entry {
  name: string;
  /** In-memory content or a file to stream. */
  data?: Buffer;
  file?: string;
  size: number;
}

/**
 * Write images as one tar that is both a docker-archive (manifest.json, as `docker save` writes
 * since 25.0) and an OCI image layout (oci-layout, index.json, blobs/sha256/…). Layers are stored
 * uncompressed (their digest is the diff id), so `docker load`, `skopeo copy docker-archive:` and
 * `oci-archive:` all read it. format "oci-archive" leaves manifest.json out. The file appears only
 * when complete (written beside it, then renamed). Internal to libs/image.
 */
export async function saveArchive(
  d: { content: ContentStore; store: ImageStore; path: string; format: string; items: SaveItem[] },
  ctx: CallContext,
): Promise<SaveImagesResponse> {
  if (!d.path.startsWith('/')) throw E.InvalidArgument(`the output path must be absolute, not "${d.path}"`);
  if (d.format !== 'docker-archive' && d.format !== 'oci-archive') throw E.InvalidArgument(`unknown archive format "${d.format}": use docker-archive or oci-archive`);
  const entries = new Map<string, Entry>();
  const temps: string[] = [];
  const dockerManifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
  const index: Array<Record<string, unknown>> = [];
  const tmpOut = join(dirname(d.path), `.conga-save-${randomBytes(6).toString('hex')}`);
  try {
    // Group tags per image (docker writes one manifest.json entry per image).
    const byId = new Map<string, string[]>();
    for (const it of d.items) {
      const list = byId.get(it.id) ?? [];
      if (it.tag && !list.includes(it.tag)) list.push(it.tag);
      byId.set(it.id, list);
    }
    for (const [id, tags] of byId) {
      const rec = d.store.get(id);
      if (!rec) throw E.ImageNotFound(id);
      const config = await d.content.read(id);
      entries.set(`blobs/sha256/${hex(id)}`, { name: `blobs/sha256/${hex(id)}`, data: config, size: config.length });
      const { manifest } = await imageManifest(d.content, d.store, id);
      const layerNames: string[] = [];
      const layerDescs: Array<{ mediaType: string; digest: string; size: number }> = [];
      for (const [i, l] of manifest.layers.entries()) {
        const diffId = rec.diffIds[i];
        const name = `blobs/sha256/${hex(diffId)}`;
        layerNames.push(name);
        if (!entries.has(name)) {
          const blob = d.content.path(l.digest);
          const kind = await sniffCompression(blob);
          let file = blob;
          if (kind !== 'none') {
            // The tar header needs the size first: decompress to a temp file, checking the diff id.
            file = join(d.content.ingestDir, `save-${randomBytes(8).toString('hex')}`);
            temps.push(file);
            const hash = createHash('sha256');
            await pipeline(
              createReadStream(blob),
              decompressor(kind)!,
              new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); cb(null, c); } }),
              createWriteStream(file, { mode: 0o600 }),
              ctx.signal ? { signal: ctx.signal } : {},
            );
            const got = `sha256:${hash.digest('hex')}`;
            if (got !== diffId) throw E.DigestMismatch(`layer ${diffId} of ${id}`, diffId, got);
          }
          entries.set(name, { name, file, size: (await stat(file)).size });
        }
        layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: diffId, size: entries.get(name)!.size });
      }
      const ociManifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA.ociManifest,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: id, size: config.length },
          layers: layerDescs,
        }),
      );
      const md = sha256(ociManifest);
      entries.set(`blobs/sha256/${hex(md)}`, { name: `blobs/sha256/${hex(md)}`, data: ociManifest, size: ociManifest.length });
      const familiar = tags.map((t) => familiarString(parseReference(t)));
      dockerManifest.push({ Config: `blobs/sha256/${hex(id)}`, RepoTags: familiar.length ? familiar : null, Layers: layerNames });
      const descs = tags.length ? tags : [undefined];
      for (const t of descs) {
        const annotations: Record<string, string> = {};
        if (t) {
          annotations['io.containerd.image.name'] = t;
          annotations['org.opencontainers.image.ref.name'] = parseReference(t).tag ?? 'latest';
        }
        index.push({ mediaType: MEDIA.ociManifest, digest: md, size: ociManifest.length, ...(t ? { annotations } : {}) });
      }
    }
    const meta: Entry[] = [
      { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}'), size: 0 },
      { name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: index })), size: 0 },
      ...(d.format === 'docker-archive' ? [{ name: 'manifest.json', data: Buffer.from(JSON.stringify(dockerManifest)), size: 0 }] : []),
    ];
    const pack = tarPack();
    const out = createWriteStream(tmpOut, { mode: 0o600 });
    const done = pipeline(pack, out);
    const mtime = new Date(0);
    pack.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime });
    pack.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime });
    for (const e of [...entries.values(), ...meta]) {
      if (ctx.signal?.aborted) throw E.Canceled('image save');
      if (e.data) {
        pack.entry({ name: e.name, size: e.data.length, mode: 0o644, mtime }, e.data);
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        const w = pack.entry({ name: e.name, size: e.size, mode: 0o644, mtime }, (err) => (err ? reject(err) : resolve()));
        const r = createReadStream(e.file!);
        r.on('error', reject);
        r.pipe(w);
      });
    }
    pack.finalize();
    await done;
    await rename(tmpOut, d.path);
    const size = (await stat(d.path)).size;
    ctx.log.info({ path: d.path, images: byId.size, size }, 'images saved');
    return { size };
  } catch (e) {
    await rm(tmpOut, { force: true });
    throw e;
  } finally {
    for (const t of temps) await rm(t, { force: true });
  }
}
