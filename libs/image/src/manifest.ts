import { E, isDigest } from '@conga/common';
import { MEDIA } from './registry-client';

/** A content descriptor (OCI/Docker). Internal to libs/image. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** An image manifest (Docker v2s2 or OCI). */
export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** A manifest list / OCI index. */
export interface ManifestIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

/** The wanted platform. */
export interface PlatformSpec {
  os: string;
  architecture: string;
  variant: string;
}

/** The platform of this host in OCI terms. */
export function hostPlatform(): PlatformSpec {
  const arch: Record<string, [string, string]> = {
    x64: ['amd64', ''],
    arm64: ['arm64', 'v8'],
    arm: ['arm', 'v7'],
    ia32: ['386', ''],
    ppc64: ['ppc64le', ''],
    s390x: ['s390x', ''],
    riscv64: ['riscv64', ''],
  };
  const [architecture, variant] = arch[process.arch] ?? [process.arch, ''];
  return { os: 'linux', architecture, variant };
}

export function platformString(p: PlatformSpec): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function descriptor(d: unknown, ref: string, what: string): Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (!o || typeof o !== 'object' || typeof o.digest !== 'string' || !isDigest(o.digest)) {
    throw E.InvalidImageConfig(ref, `${what} has no valid sha256 digest`);
  }
  // The size bounds the download (and feeds progress): the spec requires it, as an int64 >= 0.
  const size: unknown = o.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    const shown = size === undefined ? 'missing' : JSON.stringify(size) ?? String(size);
    throw E.InvalidImageConfig(ref, `${what} has no valid size (${shown}): a descriptor's size must be a non-negative integer of at most ${Number.MAX_SAFE_INTEGER} bytes`);
  }
  return {
    mediaType: typeof o.mediaType === 'string' ? o.mediaType : '',
    digest: o.digest,
    size,
    ...(o.platform && typeof o.platform === 'object' ? { platform: o.platform } : {}),
  };
}

/** Parse a manifest or index from its bytes; refuses schema 1 and unknown types. */
export function parseManifest(body: Buffer, contentType: string, ref: string): ImageManifest | ManifestIndex {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw E.InvalidImageConfig(ref, `the manifest is not JSON: ${(e as Error).message}`);
  }
  const known = new Set<string>([MEDIA.dockerManifest, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.ociIndex]);
  let mediaType = typeof j.mediaType === 'string' && j.mediaType ? j.mediaType : '';
  if (!mediaType && known.has(contentType)) mediaType = contentType;
  if (j.schemaVersion === 1 || contentType === MEDIA.dockerSchema1 || contentType === MEDIA.dockerSchema1Signed || mediaType === MEDIA.dockerSchema1 || mediaType === MEDIA.dockerSchema1Signed) {
    throw E.UnsupportedManifest(ref, `${MEDIA.dockerSchema1} (Docker image manifest schema 1 is deprecated; push the image again with a current client)`);
  }
  if (!mediaType) mediaType = Array.isArray(j.manifests) ? MEDIA.ociIndex : MEDIA.ociManifest;
  if (mediaType === MEDIA.dockerList || mediaType === MEDIA.ociIndex) {
    if (!Array.isArray(j.manifests)) throw E.InvalidImageConfig(ref, 'the manifest list has no "manifests" array');
    return { kind: 'index', mediaType, manifests: j.manifests.map((m, i) => descriptor(m, ref, `manifests[${i}]`)) };
  }
  if (mediaType === MEDIA.dockerManifest || mediaType === MEDIA.ociManifest) {
    if (!Array.isArray(j.layers)) throw E.InvalidImageConfig(ref, 'the manifest has no "layers" array');
    return {
      kind: 'manifest',
      mediaType,
      config: descriptor(j.config, ref, 'config'),
      layers: j.layers.map((l, i) => descriptor(l, ref, `layers[${i}]`)),
    };
  }
  throw E.UnsupportedManifest(ref, mediaType || contentType || '(none)');
}

/** Pick the manifest for `want` from an index (variant optional; arm64 "" matches "v8"). */
export function selectPlatform(index: ManifestIndex, want: PlatformSpec, ref: string): Descriptor {
  const norm = (arch: string, v: string | undefined) => (arch === 'arm64' && (!v || v === 'v8') ? '' : v ?? '');
  const candidates = index.manifests.filter(
    (m) => m.platform?.os === want.os && m.platform?.architecture === want.architecture,
  );
  const exact = candidates.find((m) => norm(want.architecture, m.platform?.variant) === norm(want.architecture, want.variant));
  const pick = exact ?? (want.variant ? undefined : candidates[0]);
  if (!pick) throw E.NoMatchingPlatform(ref, platformString(want));
  return pick;
}
