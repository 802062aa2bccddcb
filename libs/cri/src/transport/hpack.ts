/**
 * Just enough HPACK (RFC 7541) to rewrite one header of a header block while keeping the
 * receiver's dynamic table identical to the sender's: blocks are parsed representation by
 * representation, every literal is decoded (Huffman included) to follow the table, and only
 * the chosen literals are re-encoded. A rewritten value keeps its decoded length, so the table
 * sizes, evictions and indexes of both peers stay the same.
 */

// Code lengths of the HPACK Huffman code for symbols 0..256 (EOS), each as chr(48 + length).
// The code is canonical, so the codes follow from the lengths (checked by hpack.test.ts).
const LENGTHS =
  '=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=67777777777777777777777878=C=>6?56565666577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGFGGDFFFGFFGJJDCFGFIJJJKKJHICEJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJN';

/** Decoding table: code length → (code → symbol). */
const byLength: Map<number, Map<number, number>> = (() => {
  const lens = [...LENGTHS].map((c) => c.charCodeAt(0) - 48);
  const order = lens.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const table = new Map<number, Map<number, number>>();
  let code = 0;
  let prev = order[0].len;
  for (const { len, sym } of order) {
    code *= 2 ** (len - prev);
    prev = len;
    if (!table.has(len)) table.set(len, new Map());
    table.get(len)!.set(code, sym);
    code++;
  }
  return table;
})();

/** The canonical code of a symbol (tests use it to encode). */
export function huffmanCode(sym: number): { code: number; len: number } {
  for (const [len, m] of byLength) for (const [code, s] of m) if (s === sym) return { code, len };
  throw new RangeError(`no Huffman code for ${sym}`);
}

export function huffmanDecode(buf: Buffer): Buffer {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of buf) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const sym = byLength.get(len)?.get(code);
      if (sym !== undefined) {
        if (sym === 256) throw new Error('HPACK: EOS in a Huffman string');
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len > 30) {
        throw new Error('HPACK: invalid Huffman code');
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (the start of EOS).
  if (len > 7 || code !== 2 ** len - 1) throw new Error('HPACK: invalid Huffman padding');
  return Buffer.from(out);
}

// The static table's names (RFC 7541 Appendix A); values matter only for their lengths.
const STATIC: Array<[string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

function readInt(buf: Buffer, pos: number, prefix: number): [number, number] {
  const max = (1 << prefix) - 1;
  let v = buf[pos] & max;
  pos++;
  if (v < max) return [v, pos];
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('HPACK: truncated integer');
    const b = buf[pos++];
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return [v, pos];
    if (shift > 28) throw new Error('HPACK: integer too large');
  }
}

export function writeInt(v: number, prefix: number, firstBits: number): Buffer {
  const max = (1 << prefix) - 1;
  if (v < max) return Buffer.from([firstBits | v]);
  const out = [firstBits | max];
  v -= max;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function readString(buf: Buffer, pos: number): [Buffer, number] {
  if (pos >= buf.length) throw new Error('HPACK: truncated string');
  const huffman = (buf[pos] & 0x80) !== 0;
  const [len, p] = readInt(buf, pos, 7);
  if (p + len > buf.length) throw new Error('HPACK: truncated string');
  const raw = buf.subarray(p, p + len);
  return [huffman ? huffmanDecode(raw) : Buffer.from(raw), p + len];
}

/**
 * One connection's view of the sender's dynamic table, plus the rewrite rule: `rewrite(name,
 * value)` returns a replacement value of the same byte length, or undefined to keep it.
 */
export class HeaderBlockRewriter {
  private dynamic: Array<{ name: string; size: number }> = [];
  private size = 0;
  private maxSize = 4096;

  constructor(private readonly rewrite: (name: string, value: Buffer) => Buffer | undefined) {}

  /** The block with the chosen literals re-encoded (the same Buffer when nothing changed). */
  process(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    let changed = false;
    let pos = 0;
    while (pos < block.length) {
      const start = pos;
      const b = block[pos];
      if (b & 0x80) {
        const [index, p] = readInt(block, pos, 7);
        this.nameAt(index);
        pos = p;
        parts.push(block.subarray(start, pos));
        continue;
      }
      if ((b & 0xe0) === 0x20) {
        const [max, p] = readInt(block, pos, 5);
        this.maxSize = max;
        this.evict(0);
        pos = p;
        parts.push(block.subarray(start, pos));
        continue;
      }
      const indexing = (b & 0xc0) === 0x40;
      const [index, p] = readInt(block, pos, indexing ? 6 : 4);
      pos = p;
      let name: string;
      if (index === 0) {
        const [n, p2] = readString(block, pos);
        name = n.toString('latin1');
        pos = p2;
      } else {
        name = this.nameAt(index);
      }
      const valueStart = pos;
      const [value, p3] = readString(block, pos);
      pos = p3;
      const replacement = this.rewrite(name, value);
      if (replacement && replacement.length === value.length && !replacement.equals(value)) {
        changed = true;
        parts.push(block.subarray(start, valueStart), writeInt(replacement.length, 7, 0), replacement);
      } else {
        parts.push(block.subarray(start, pos));
      }
      if (indexing) this.add(name, value.length);
    }
    return changed ? Buffer.concat(parts) : block;
  }

  private nameAt(index: number): string {
    if (index === 0) throw new Error('HPACK: index 0');
    if (index <= STATIC.length) return STATIC[index - 1][0];
    const e = this.dynamic[index - STATIC.length - 1];
    if (!e) throw new Error(`HPACK: index ${index} is not in the table`);
    return e.name;
  }

  private add(name: string, valueLength: number): void {
    const size = Buffer.byteLength(name, 'latin1') + valueLength + 32;
    this.evict(size);
    if (size > this.maxSize) return;
    this.dynamic.unshift({ name, size });
    this.size += size;
  }

  private evict(room: number): void {
    while (this.dynamic.length && this.size + room > this.maxSize) this.size -= this.dynamic.pop()!.size;
  }
}
