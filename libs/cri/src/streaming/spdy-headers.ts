import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { E } from '@conga/common';
import { SPDY3_DICTIONARY } from './spdy-dictionary';

/** SPDY header names are lower case; one name may carry several values (NUL-separated on the wire). */
export type SpdyHeaders = Record<string, string[]>;

/** Most headers and bytes one block may carry (kubectl sends a handful). */
const MAX_HEADERS = 256;
const MAX_BLOCK = 64 * 1024;

/** Pack a name/value block (uncompressed): count, then length-prefixed names and values. */
export function packHeaders(h: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  const names = Object.keys(h);
  n.writeUInt32BE(names.length);
  parts.push(n);
  for (const name of names) {
    for (const s of [name, h[name].join('\0')]) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}

/** Unpack a name/value block; names are lower-cased (SPDY requires it; Go's client sends canonical case). */
export function unpackHeaders(b: Buffer): SpdyHeaders {
  const bad = (why: string) => E.CriStreamProtocol(`malformed SPDY header block: ${why}`);
  if (b.length < 4) throw bad('shorter than its count');
  const count = b.readUInt32BE(0);
  if (count > MAX_HEADERS) throw bad(`${count} headers, at most ${MAX_HEADERS} accepted`);
  let off = 4;
  const str = (): string => {
    if (off + 4 > b.length) throw bad('truncated length');
    const len = b.readUInt32BE(off);
    off += 4;
    if (off + len > b.length) throw bad('truncated string');
    const s = b.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  // No prototype: a peer's header named __proto__ stays an ordinary entry.
  const out: SpdyHeaders = Object.create(null);
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    if (!name) throw bad('empty header name');
    const values = str().split('\0');
    out[name] = [...(out[name] ?? []), ...values];
  }
  return out;
}

/** Run `fn` after everything queued before it (zlib contexts must see blocks in order). */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/** Write `input` to a zlib stream and collect what one sync flush yields. */
function flushThrough(z: Deflate | Inflate, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(E.CriStreamProtocol(`SPDY header compression failed: ${e.message}`));
    z.once('error', onError);
    z.write(input);
    z.flush(constants.Z_SYNC_FLUSH, () => {
      z.off('error', onError);
      const chunks: Buffer[] = [];
      for (let c = z.read() as Buffer | null; c; c = z.read() as Buffer | null) chunks.push(c);
      resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * One direction's header compression context of a SPDY session: every header block of the
 * session goes through the same zlib stream (with the SPDY/3 dictionary), each ended by a
 * sync flush, so blocks must be compressed and inflated in frame order — calls are queued.
 */
export class HeaderCompressor {
  private readonly z = createDeflate({ dictionary: SPDY3_DICTIONARY });
  private readonly serial = new Serial();

  compress(h: SpdyHeaders): Promise<Buffer> {
    return this.serial.run(() => flushThrough(this.z, packHeaders(h)));
  }

  close(): void {
    this.z.destroy();
  }
}

/** The receiving side of {@link HeaderCompressor}. */
export class HeaderDecompressor {
  private readonly z = createInflate({ dictionary: SPDY3_DICTIONARY });
  private readonly serial = new Serial();

  decompress(block: Buffer): Promise<SpdyHeaders> {
    return this.serial.run(async () => {
      const raw = await flushThrough(this.z, block);
      if (raw.length > MAX_BLOCK) throw E.CriStreamProtocol(`SPDY header block of ${raw.length} bytes is larger than ${MAX_BLOCK}`);
      return unpackHeaders(raw);
    });
  }

  close(): void {
    this.z.destroy();
  }
}
