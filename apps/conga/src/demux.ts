/**
 * Docker's multiplexed stream (logs/attach of non-TTY containers): frames of an 8-byte header
 * `[stream, 0, 0, 0, size uint32 BE]` then `size` payload bytes. Stream 0 stdin, 1 stdout,
 * 2 stderr, 3 system error. Owner: CLI (apps/conga). Pure: feed chunks, get frames.
 */

export interface Frame {
  stream: number;
  data: Buffer;
}

/** Incremental demuxer: frames may be split across chunks at any byte. */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);

  /** Add a chunk; returns every frame completed by it, in order. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    let off = 0;
    while (this.buf.length - off >= 8) {
      const size = this.buf.readUInt32BE(off + 4);
      if (this.buf.length - off - 8 < size) break;
      out.push({ stream: this.buf[off], data: Buffer.from(this.buf.subarray(off + 8, off + 8 + size)) });
      off += 8 + size;
    }
    this.buf = off === 0 ? this.buf : Buffer.from(this.buf.subarray(off));
    return out;
  }

  /** Bytes of an incomplete frame left over (non-zero at stream end means it was cut short). */
  get pending(): number {
    return this.buf.length;
  }
}

/** Encode one frame (used by tests and fakes). */
export function encodeFrame(stream: number, data: Buffer | string): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
}
