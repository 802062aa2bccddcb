import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Transform } from 'node:stream';
import { E } from '@conga/common';

/** How a layer blob is compressed, decided by its first bytes (media types are often wrong). */
export type Compression = 'none' | 'gzip' | 'zstd';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** Layer media types storage accepts ("" means: decide from the blob's bytes). */
export function isLayerMediaType(mediaType: string): boolean {
  if (mediaType === '') return true;
  return /^application\/vnd\.(oci\.image\.layer(\.nondistributable)?\.v1\.tar(\+gzip|\+zstd)?|docker\.image\.rootfs\.(foreign\.)?diff\.tar(\.gzip|\.zstd)?)$/.test(mediaType);
}

/** Look at the first bytes of a blob. */
export async function sniffCompression(blobPath: string): Promise<Compression> {
  const fh = await open(blobPath, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    const starts = (magic: number[]) => bytesRead >= magic.length && magic.every((b, i) => head[i] === b);
    if (starts(GZIP_MAGIC)) return 'gzip';
    if (starts(ZSTD_MAGIC)) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

/**
 * The transform that turns a blob into its tar stream (null for an uncompressed blob).
 * zstd is refused: Node 20 has no zstd decoder. Owner: storage; zstd support may come later.
 */
export function decompressor(kind: Compression, mediaType: string): Transform | null {
  switch (kind) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      throw E.NotImplemented(`unpacking zstd-compressed layers (media type "${mediaType || 'unknown'}"); use an image with gzip or uncompressed layers`);
    default:
      return null;
  }
}
