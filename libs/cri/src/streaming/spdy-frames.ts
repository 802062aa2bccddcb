import { E } from '@conga/common';

/**
 * SPDY/3.1 framing (draft 3.1): the binary frames only, with header blocks as opaque
 * (compressed) bytes; `spdy-headers.ts` packs and compresses them. Pure and synchronous, so a
 * property test can round-trip any frame through any split of the byte stream.
 */

export const SPDY_VERSION = 3;

/** Control frame types (the CREDENTIAL frame of draft 3 is not used by anyone and is refused). */
export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** SETTINGS ids used here. */
export const SETTINGS_MAX_CONCURRENT_STREAMS = 4;
export const SETTINGS_INITIAL_WINDOW_SIZE = 7;

/** Largest payload of one frame (24-bit length). */
export const MAX_FRAME_PAYLOAD = 0xffffff;
/** Frames larger than this are refused when read: no client here needs more. */
export const MAX_READ_PAYLOAD = 1 << 20;

export type Frame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedId: number; priority: number; slot: number; fin: boolean; unidirectional: boolean; block: Buffer }
  | { type: 'syn_reply'; streamId: number; fin: boolean; block: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; clear: boolean; entries: Array<{ flags: number; id: number; value: number }> }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'headers'; streamId: number; fin: boolean; block: Buffer }
  | { type: 'window_update'; streamId: number; delta: number };

const U31 = 0x7fffffff;

function control(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw E.CriStreamProtocol(`SPDY frame payload of ${payload.length} bytes is larger than 16 MiB`);
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

function u32s(...v: number[]): Buffer {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
  return b;
}

/** Serialize one frame. */
export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case 'data': {
      if (f.data.length > MAX_FRAME_PAYLOAD) throw E.CriStreamProtocol(`SPDY data frame of ${f.data.length} bytes is larger than 16 MiB`);
      const h = Buffer.alloc(8);
      h.writeUInt32BE(f.streamId & U31, 0);
      h.writeUInt32BE(((f.fin ? FLAG_FIN : 0) << 24 | f.data.length) >>> 0, 4);
      return Buffer.concat([h, f.data]);
    }
    case 'syn_stream': {
      const p = Buffer.alloc(10);
      p.writeUInt32BE(f.streamId & U31, 0);
      p.writeUInt32BE(f.associatedId & U31, 4);
      p[8] = (f.priority & 7) << 5;
      p[9] = f.slot & 0xff;
      return control(FrameType.SYN_STREAM, (f.fin ? FLAG_FIN : 0) | (f.unidirectional ? FLAG_UNIDIRECTIONAL : 0), Buffer.concat([p, f.block]));
    }
    case 'syn_reply':
      return control(FrameType.SYN_REPLY, f.fin ? FLAG_FIN : 0, Buffer.concat([u32s(f.streamId & U31), f.block]));
    case 'headers':
      return control(FrameType.HEADERS, f.fin ? FLAG_FIN : 0, Buffer.concat([u32s(f.streamId & U31), f.block]));
    case 'rst_stream':
      return control(FrameType.RST_STREAM, 0, u32s(f.streamId & U31, f.status));
    case 'settings': {
      const p = Buffer.alloc(4 + 8 * f.entries.length);
      p.writeUInt32BE(f.entries.length, 0);
      f.entries.forEach((e, i) => {
        p.writeUInt32BE(((e.flags & 0xff) << 24 | (e.id & 0xffffff)) >>> 0, 4 + 8 * i);
        p.writeUInt32BE(e.value >>> 0, 8 + 8 * i);
      });
      return control(FrameType.SETTINGS, f.clear ? 1 : 0, p);
    }
    case 'ping':
      return control(FrameType.PING, 0, u32s(f.id));
    case 'goaway':
      return control(FrameType.GOAWAY, 0, u32s(f.lastGoodStreamId & U31, f.status));
    case 'window_update':
      return control(FrameType.WINDOW_UPDATE, 0, u32s(f.streamId & U31, f.delta & U31));
  }
}

function need(p: Buffer, n: number, what: string): void {
  if (p.length < n) throw E.CriStreamProtocol(`malformed SPDY ${what} frame: ${p.length} bytes of payload, at least ${n} expected`);
}

/** Parse one complete frame (header + payload). */
export function decodeFrame(b: Buffer): Frame {
  const word = b.readUInt32BE(4);
  const flags = word >>> 24;
  const p = b.subarray(8, 8 + (word & 0xffffff));
  if ((b[0] & 0x80) === 0) return { type: 'data', streamId: b.readUInt32BE(0) & U31, fin: (flags & FLAG_FIN) !== 0, data: p };
  const version = b.readUInt16BE(0) & 0x7fff;
  if (version !== SPDY_VERSION) throw E.CriStreamProtocol(`unsupported SPDY version ${version}: only SPDY/3.1 is spoken`);
  const type = b.readUInt16BE(2);
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case FrameType.SYN_STREAM:
      need(p, 10, 'SYN_STREAM');
      return {
        type: 'syn_stream', streamId: p.readUInt32BE(0) & U31, associatedId: p.readUInt32BE(4) & U31, priority: p[8] >> 5, slot: p[9],
        fin, unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0, block: p.subarray(10),
      };
    case FrameType.SYN_REPLY:
      need(p, 4, 'SYN_REPLY');
      return { type: 'syn_reply', streamId: p.readUInt32BE(0) & U31, fin, block: p.subarray(4) };
    case FrameType.HEADERS:
      need(p, 4, 'HEADERS');
      return { type: 'headers', streamId: p.readUInt32BE(0) & U31, fin, block: p.subarray(4) };
    case FrameType.RST_STREAM:
      need(p, 8, 'RST_STREAM');
      return { type: 'rst_stream', streamId: p.readUInt32BE(0) & U31, status: p.readUInt32BE(4) };
    case FrameType.SETTINGS: {
      need(p, 4, 'SETTINGS');
      const n = p.readUInt32BE(0);
      need(p, 4 + 8 * n, 'SETTINGS');
      const entries = [];
      for (let i = 0; i < n; i++) {
        const w = p.readUInt32BE(4 + 8 * i);
        entries.push({ flags: w >>> 24, id: w & 0xffffff, value: p.readUInt32BE(8 + 8 * i) });
      }
      return { type: 'settings', clear: (flags & 1) !== 0, entries };
    }
    case FrameType.PING:
      need(p, 4, 'PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GOAWAY:
      need(p, 4, 'GOAWAY');
      // SPDY/3 added a status word; accept the 4-byte form too.
      return { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & U31, status: p.length >= 8 ? p.readUInt32BE(4) : 0 };
    case FrameType.WINDOW_UPDATE:
      need(p, 8, 'WINDOW_UPDATE');
      return { type: 'window_update', streamId: p.readUInt32BE(0) & U31, delta: p.readUInt32BE(4) & U31 };
    default:
      throw E.CriStreamProtocol(`unknown SPDY control frame type ${type}`);
  }
}

/**
 * Splits a byte stream into frames: feed it chunks as they arrive, get back the complete
 * frames. Throws a catalog error on a malformed or oversized frame (the session then ends).
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (len > MAX_READ_PAYLOAD) throw E.CriStreamProtocol(`SPDY frame of ${len} bytes is larger than the ${MAX_READ_PAYLOAD} bytes accepted`);
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      out.push(decodeFrame(Buffer.from(frame)));
    }
    return out;
  }
}
