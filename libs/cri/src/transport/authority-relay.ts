import { createConnection, createServer, type Socket } from 'node:net';
import { HeaderBlockRewriter } from './hpack';

/**
 * The public CRI socket in front of grpc-js. grpc-go clients (kubelet, crictl) dialing a unix
 * socket send its path (e.g. "/run/conga/cri.sock") as the HTTP/2 `:authority`; node's HTTP/2
 * server treats that as a protocol error and resets every stream. This relay passes each
 * connection through to grpc-js's private socket untouched, except that an `:authority` that is
 * not a valid host is replaced by "x"s of the same length (see hpack.ts for why the length).
 */

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** The smallest SETTINGS_MAX_FRAME_SIZE a peer may have: re-encoded blocks are split to it. */
const MAX_FRAME = 16384;

const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/;

export function rewriteAuthority(name: string, value: Buffer): Buffer | undefined {
  if (name !== ':authority' || VALID_AUTHORITY.test(value.toString('latin1'))) return undefined;
  return Buffer.alloc(value.length, 'x');
}

/**
 * Client→server byte stream filter: frames pass through as they come, except header blocks
 * (HEADERS + CONTINUATIONs), which are collected, rewritten and sent as one HEADERS frame plus
 * CONTINUATIONs of at most 16 KiB. Throws on a malformed stream (the caller drops the connection).
 */
export class ClientStreamFilter {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private block: { streamId: number; flags: number; priority: Buffer; parts: Buffer[] } | null = null;
  private readonly hpack = new HeaderBlockRewriter(rewriteAuthority);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    if (!this.prefaceSeen) {
      if (this.buf.length < PREFACE.length) return out;
      if (!this.buf.subarray(0, PREFACE.length).equals(PREFACE)) throw new Error('not an HTTP/2 connection preface');
      out.push(this.buf.subarray(0, PREFACE.length));
      this.buf = this.buf.subarray(PREFACE.length);
      this.prefaceSeen = true;
    }
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const frame = this.buf.subarray(0, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      const type = frame[3];
      const flags = frame[4];
      const streamId = frame.readUInt32BE(5) & 0x7fffffff;
      if (this.block && type !== CONTINUATION) throw new Error('header block interrupted by another frame');
      if (type === HEADERS) {
        let payload = frame.subarray(9);
        if (flags & PADDED) payload = payload.subarray(1, payload.length - payload[0]);
        const priority = flags & PRIORITY ? payload.subarray(0, 5) : Buffer.alloc(0);
        this.block = { streamId, flags: flags & ~PADDED & ~END_HEADERS, priority, parts: [payload.subarray(priority.length)] };
      } else if (type === CONTINUATION) {
        if (!this.block || this.block.streamId !== streamId) throw new Error('unexpected CONTINUATION frame');
        this.block.parts.push(frame.subarray(9));
      } else {
        out.push(frame);
        continue;
      }
      if (flags & END_HEADERS) {
        out.push(...this.emit(this.block));
        this.block = null;
      }
    }
    return out;
  }

  private emit(b: { streamId: number; flags: number; priority: Buffer; parts: Buffer[] }): Buffer[] {
    const block = this.hpack.process(Buffer.concat(b.parts));
    const frames: Buffer[] = [];
    let rest = Buffer.concat([b.priority, block]);
    let type = HEADERS;
    let flags = b.flags;
    do {
      const piece = rest.subarray(0, MAX_FRAME);
      rest = rest.subarray(piece.length);
      const head = Buffer.alloc(9);
      head.writeUIntBE(piece.length, 0, 3);
      head[3] = type;
      head[4] = flags | (rest.length ? 0 : END_HEADERS);
      head.writeUInt32BE(b.streamId, 5);
      frames.push(head, piece);
      type = CONTINUATION;
      flags = 0;
    } while (rest.length);
    return frames;
  }
}

/** Listen on `publicPath` and relay every connection to `privatePath` (see above). */
export async function startAuthorityRelay(publicPath: string, privatePath: string, onError: (e: unknown) => void): Promise<{ close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server = createServer((client: Socket) => {
    const upstream = createConnection(privatePath);
    open.add(client);
    client.on('close', () => open.delete(client));
    const filter = new ClientStreamFilter();
    const drop = (e?: unknown) => {
      if (e) onError(e);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = filter.push(chunk);
      } catch (e) {
        drop(e);
        return;
      }
      for (const f of frames) if (!upstream.write(f)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.pipe(client);
    client.on('end', () => upstream.end());
    client.on('error', () => drop());
    upstream.on('error', (e) => drop(e));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(publicPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}
