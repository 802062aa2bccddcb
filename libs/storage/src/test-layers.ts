import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
import { chainIdOf } from './storage-service';

/** One entry of a test layer. */
export type TestEntry = Partial<Omit<Header, 'pax'>> & { name: string; content?: string | Buffer; pax?: Record<string, string> };

/** Build an uncompressed tar in memory with tar-stream. Test helper (owner: storage). */
export async function buildTar(entries: TestEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const e of entries) {
    const { content, ...header } = e;
    const body = content === undefined ? undefined : Buffer.from(content);
    await new Promise<void>((resolve, reject) => {
      const h = { mode: header.type === 'directory' ? 0o755 : 0o644, mtime: new Date(1_600_000_000_000), ...header } as Header;
      if (body) p.entry(h, body, (err) => (err ? reject(err) : resolve()));
      else p.entry(h, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A layer blob written to `dir`, with the request fields to apply it. */
export interface TestLayer {
  chainId: string;
  parentChainId: string;
  diffId: string;
  blobPath: string;
  mediaType: string;
}

let seq = 0;

/** Write a layer blob (gzip by default) and compute its diff ID and chain ID. */
export async function writeLayer(dir: string, entries: TestEntry[], opts: { parent?: TestLayer; gzip?: boolean } = {}): Promise<TestLayer> {
  const tar = await buildTar(entries);
  const gz = opts.gzip ?? true;
  const blob = gz ? gzipSync(tar) : tar;
  const blobPath = join(dir, `layer-${process.pid}-${seq++}${gz ? '.tar.gz' : '.tar'}`);
  writeFileSync(blobPath, blob);
  const diffId = sha256(tar);
  const parentChainId = opts.parent?.chainId ?? '';
  return {
    chainId: chainIdOf(parentChainId, diffId),
    parentChainId,
    diffId,
    blobPath,
    mediaType: gz ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar',
  };
}
