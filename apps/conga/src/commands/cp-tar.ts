/**
 * A minimal streaming tar codec for `conga cp` (the CLI uses only node built-ins): ustar
 * headers, PAX records for long names and link targets, files streamed, never buffered whole.
 * Owner: CLI cp.
 */
import { E } from '../errors';

export type TarType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface TarHeader {
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkname: string;
}

const BLOCK = 512;
const TYPE_FLAGS: Record<string, TarType> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'directory', '2': 'symlink', '1': 'link' };

function octal(buf: Buffer, off: number, len: number, v: number): void {
  buf.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'ascii');
}

function pad(size: number): Buffer {
  const r = size % BLOCK;
  return Buffer.alloc(r ? BLOCK - r : 0);
}

function rawHeader(name: string, flag: string, h: Omit<TarHeader, 'name' | 'type'>, linkname: string): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, Math.floor(h.mtime.getTime() / 1000));
  b.write(flag, 156, 1, 'ascii');
  b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\0' + '00', 257, 8, 'ascii');
  b.fill(' ', 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return b;
}

function paxRecord(key: string, value: string): string {
  // The length counts its own digits.
  const body = Buffer.byteLength(` ${key}=${value}\n`);
  let len = body + 1;
  while (String(len).length + body !== len) len = String(len).length + body;
  return `${len} ${key}=${value}\n`;
}

/** The header block(s) of one entry: a PAX header first when the name or link is too long. */
export function encodeHeader(h: TarHeader): Buffer {
  const flag = { file: '0', directory: '5', symlink: '2', link: '1', other: '0' }[h.type];
  const parts: Buffer[] = [];
  const long = Buffer.byteLength(h.name) > 100 || Buffer.byteLength(h.linkname) > 100;
  if (long) {
    const pax = Buffer.from(paxRecord('path', h.name) + (h.linkname ? paxRecord('linkpath', h.linkname) : ''));
    parts.push(rawHeader('PaxHeader', 'x', { ...h, size: pax.length }, ''), pax, pad(pax.length));
  }
  parts.push(rawHeader(long ? h.name.slice(0, 99) : h.name, flag, h, long ? '' : h.linkname));
  return Buffer.concat(parts);
}

export const padding = pad;
/** Two zero blocks end an archive. */
export const END = Buffer.alloc(2 * BLOCK);

/** Pulls exact byte counts out of a chunk stream. */
class Bytes {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  constructor(src: AsyncIterable<Buffer>) {
    this.it = src[Symbol.asyncIterator]();
  }
  private async more(): Promise<boolean> {
    const r = await this.it.next();
    if (r.done) return false;
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }
  /** Exactly n bytes, or undefined at a clean end of stream before any byte. */
  async take(n: number): Promise<Buffer | undefined> {
    while (this.buf.length < n) if (!(await this.more())) {
      if (this.buf.length === 0) return undefined;
      throw E.DaemonStreamError('the archive from the daemon is truncated');
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.more())) throw E.DaemonStreamError('the archive from the daemon is truncated');
      const c = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(c.length);
      left -= c.length;
      yield c;
    }
  }
}

const str = (b: Buffer, off: number, len: number) => {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
};
const num = (b: Buffer, off: number, len: number): number => {
  if (b[off] & 0x80) {
    // base-256 (GNU) for values that do not fit in octal
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i];
    return v;
  }
  const s = str(b, off, len).trim();
  return s ? parseInt(s, 8) : 0;
};

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const len = parseInt(data.subarray(i, sp).toString('ascii'), 10);
    if (!(len > 0) || sp < 0) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/**
 * The entries of a tar stream. Each entry's `body` must be read before asking for the next
 * one, or it is skipped.
 */
export async function* readTar(src: AsyncIterable<Buffer>): AsyncGenerator<{ header: TarHeader; body: AsyncIterable<Buffer> }> {
  const r = new Bytes(src);
  let pax: Record<string, string> = {};
  let gnuName = '';
  for (;;) {
    const b = await r.take(BLOCK);
    if (!b || b.every((x) => x === 0)) return;
    const flag = String.fromCharCode(b[156] || 0x30);
    const size = num(b, 124, 12);
    if (flag === 'x' || flag === 'g' || flag === 'L') {
      const data = (await r.take(size + pad(size).length)) ?? Buffer.alloc(0);
      if (flag === 'x') pax = parsePax(data.subarray(0, size));
      if (flag === 'L') gnuName = str(data, 0, size);
      continue;
    }
    const prefix = str(b, 345, 155);
    const name = pax.path ?? (gnuName || (prefix ? `${prefix}/${str(b, 0, 100)}` : str(b, 0, 100)));
    const header: TarHeader = {
      name,
      type: TYPE_FLAGS[flag] ?? 'other',
      mode: num(b, 100, 8),
      uid: num(b, 108, 8),
      gid: num(b, 116, 8),
      size: pax.size ? Number(pax.size) : size,
      mtime: new Date(num(b, 136, 12) * 1000),
      linkname: pax.linkpath ?? str(b, 157, 100),
    };
    pax = {};
    gnuName = '';
    const body = r.chunks(header.size);
    yield { header, body };
    // Skip whatever the consumer did not read, then the padding.
    for await (const _ of body) void _;
    await r.take(pad(header.size).length);
  }
}
