import { stat } from 'node:fs/promises';
import { E, type CallContext, type Progress } from '@conga/common';
import type { LoadResult } from '@conga/api';
import { ArchiveDir } from './archive-reader';
import { commitImage, type CommitDeps, type StoredLayer } from './layer-commit';
import { hostPlatform, parseManifest, selectPlatform } from './manifest';
import { familiarString, normalizedString, parseReference } from './reference';

interface DockerManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

interface OciIndex {
  manifests?: Array<{ mediaType?: string; digest?: string; size?: number; annotations?: Record<string, string>; platform?: { os?: string; architecture?: string; variant?: string } }>;
}

function blobPath(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest ?? '');
  if (!m) throw E.InvalidDigest(digest);
  return `blobs/sha256/${m[1]}`;
}

/**
 * Load a docker-archive (manifest.json, what `docker save` writes) or an OCI image layout tar
 * (index.json) into the store: every blob is hashed as it enters the content store, layers are
 * applied through storage, and an image appears only once all of it succeeded. Tags in the archive
 * move to the loaded images. Internal to libs/image.
 */
export async function loadArchive(d: CommitDeps & { path: string }, ctx: CallContext): Promise<LoadResult> {
  if (!d.path.startsWith('/')) throw E.InvalidArgument(`the archive path must be absolute, not "${d.path}"`);
  const emit = (p: Progress) => ctx.onProgress?.(p);
  const what = 'the archive';
  const dir = await ArchiveDir.open(d.path, d.content.ingestDir, what);
  const tags: string[] = [];
  const ids: string[] = [];
  const untaggedIds: string[] = [];
  try {
    /** Adopt an archive file into the content store once (copied: the same file may serve twice). */
    const adopted = new Map<string, StoredLayer>();
    const adopt = async (name: string, expected?: string): Promise<StoredLayer> => {
      const src = dir.resolve(name);
      if (!src) throw E.ImageArchiveInvalid(what, `"${name}" is missing from the archive`);
      const cached = adopted.get(src);
      if (cached) return cached;
      const { size } = await stat(src);
      // The unpacked archive lives under ingest/: the file is moved, not copied.
      const digest = await d.content.adopt(src, `${name} in the archive`, expected);
      const l = { digest, mediaType: '', size };
      adopted.set(src, l);
      return l;
    };
    const normTags = (list: string[]) =>
      list.map((t) => {
        const r = parseReference(t);
        if (r.digest) throw E.ImageArchiveInvalid(what, `RepoTags entry "${t}" holds a digest`);
        return normalizedString(r);
      });

    if (dir.has('manifest.json')) {
      const entries = await dir.json<DockerManifestEntry[]>('manifest.json');
      if (!Array.isArray(entries) || entries.length === 0) throw E.ImageArchiveInvalid(what, 'manifest.json lists no images');
      for (const [i, e] of entries.entries()) {
        if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers)) throw E.ImageArchiveInvalid(what, `manifest.json entry ${i} has no Config or Layers`);
        const config = await dir.read(e.Config);
        const layers: StoredLayer[] = [];
        for (const name of e.Layers) {
          if (typeof name !== 'string') throw E.ImageArchiveInvalid(what, `manifest.json entry ${i} has a layer that is not a path`);
          layers.push(await adopt(name));
        }
        const t = normTags(e.RepoTags ?? []);
        const id = await commitImage(d, { config, layers, tags: t, emit }, ctx);
        ids.push(id);
        if (t.length === 0) untaggedIds.push(id);
        tags.push(...t.map((x) => familiarString(parseReference(x))));
      }
    } else if (dir.has('index.json')) {
      const index = await dir.json<OciIndex>('index.json');
      if (!Array.isArray(index.manifests) || index.manifests.length === 0) throw E.ImageArchiveInvalid(what, 'index.json lists no manifests');
      for (const desc of index.manifests) {
        const ann = desc.annotations ?? {};
        let tag: string | undefined;
        const full = ann['io.containerd.image.name'] ?? ann['org.opencontainers.image.ref.name'];
        if (full) {
          try {
            const r = parseReference(full);
            if (!r.digest && /[/:]/.test(full)) tag = normalizedString(r);
          } catch {
            /* a bare tag without a name cannot be applied */
          }
        }
        let mBody = await dir.read(blobPath(desc.digest ?? ''));
        await d.content.put(desc.digest!, mBody, `manifest ${desc.digest}`);
        let m = parseManifest(mBody, desc.mediaType ?? '', 'archive');
        if (m.kind === 'index') {
          const pick = selectPlatform(m, hostPlatform(), 'archive');
          mBody = await dir.read(blobPath(pick.digest));
          await d.content.put(pick.digest, mBody, `manifest ${pick.digest}`);
          m = parseManifest(mBody, pick.mediaType, 'archive');
          if (m.kind !== 'manifest') throw E.ImageArchiveInvalid(what, 'nested indexes are not supported');
        }
        const config = await dir.read(blobPath(m.config.digest));
        const layers: StoredLayer[] = [];
        for (const l of m.layers) {
          const s = await adopt(blobPath(l.digest), l.digest);
          layers.push({ ...s, mediaType: l.mediaType });
        }
        const id = await commitImage(d, { config, layers, tags: tag ? [tag] : [], manifest: mBody, emit }, ctx);
        ids.push(id);
        if (!tag) untaggedIds.push(id);
        if (tag) tags.push(familiarString(parseReference(tag)));
      }
    } else {
      throw E.ImageArchiveInvalid(what, 'it holds neither manifest.json (docker-archive) nor index.json (OCI image layout)');
    }
  } finally {
    await dir.close();
  }
  for (const t of tags) emit({ id: '', status: `Loaded image: ${t}`, current: 0, total: 0 });
  for (const id of new Set(untaggedIds)) emit({ id: '', status: `Loaded image ID: ${id}`, current: 0, total: 0 });
  ctx.log.info({ tags, ids }, 'images loaded');
  return { tags, ids: [...new Set(ids)] };
}
