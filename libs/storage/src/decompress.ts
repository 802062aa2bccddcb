import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { Transform, type Readable } from 'node:stream';
import { Decompress } from 'fzstd';
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

function compressionOf(head: Buffer): Compression {
  const starts = (magic: number[]) => head.length >= magic.length && magic.every((b, i) => head[i] === b);
  if (starts(GZIP_MAGIC)) return 'gzip';
  if (starts(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/**
 * Look at the first bytes of a blob that arrives as a stream; they are put back, so the stream
 * still yields the whole blob.
 */
export async function sniffStreamCompression(src: Readable): Promise<Compression> {
  const chunks: Buffer[] = [];
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    const done = (e?: Error) => {
      src.off('readable', onReadable);
      src.off('end', onEnd);
      src.off('error', onError);
      if (e) reject(e);
      else resolve();
    };
    const onReadable = () => {
      for (let c: Buffer | null; n < 4 && (c = src.read() as Buffer | null) !== null;) {
        chunks.push(c);
        n += c.length;
      }
      if (n >= 4) done();
    };
    const onEnd = () => done();
    const onError = (e: Error) => done(E.BadArchive(`the layer stream failed before its first bytes: ${e.message}`));
    src.on('readable', onReadable);
    src.once('end', onEnd);
    src.once('error', onError);
  });
  const head = Buffer.concat(chunks);
  if (head.length) src.unshift(head);
  return compressionOf(head.subarray(0, 4));
}

/**
 * A streaming zstd decoder (fzstd, pure JS): decompresses chunk by chunk, never the whole blob.
 * A truncated or corrupt frame fails the stream with E.BadArchive.
 */
export function createZstdDecompress(): Transform {
  let dz: Decompress;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        dz.push(chunk);
        cb();
      } catch (e) {
        cb(E.BadArchive(`zstd stream is corrupt: ${(e as Error).message}`));
      }
    },
    flush(cb) {
      try {
        dz.push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(E.BadArchive(`zstd stream is truncated or corrupt: ${(e as Error).message}`));
      }
    },
  });
  dz = new Decompress((data) => {
    if (data.length) t.push(Buffer.from(data)); // copied: fzstd may reuse its buffers
  });
  return t;
}

/** The transform that turns a blob into its tar stream (null for an uncompressed blob). */
export function decompressor(kind: Compression, _mediaType = ''): Transform | null {
  switch (kind) {
    case 'gzip':
      return createGunzip();
    case 'zstd':
      return createZstdDecompress();
    default:
      return null;
  }
}
