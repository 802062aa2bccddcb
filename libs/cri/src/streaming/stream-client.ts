import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { E } from '@conga/common';
import { SETTINGS_INITIAL_WINDOW_SIZE } from './spdy-frames';
import { DEFAULT_WINDOW, SpdySession } from './spdy-session';

/**
 * A minimal client of the streaming server, playing kubectl/kubelet's side (SPDY/3.1 with or
 * without flow control, or WebSocket channels). Used by the tests of this server and by the
 * CRI end-to-end tests; not a general purpose client.
 */

export interface SpdyUpgrade {
  session: SpdySession;
  protocol: string;
  socket: Socket;
}

/** Answer of a refused upgrade. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`upgrade refused with ${status}: ${body}`);
  }
}

/**
 * Upgrade `url` to SPDY/3.1 offering `protocols`. `flowControl: false` plays Go's spdystream
 * (no SETTINGS, no WINDOW_UPDATE); true announces a 64 KiB initial window, as SPDY/3.1 says.
 */
export async function spdyConnect(url: string, protocols: string[], flowControl = true): Promise<SpdyUpgrade> {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port) });
  await once(socket, 'connect');
  socket.write(
    `POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
      protocols.map((p) => `X-Stream-Protocol-Version: ${p}\r\n`).join('') + 'Content-Length: 0\r\n\r\n',
  );
  let buf = Buffer.alloc(0);
  while (buf.indexOf('\r\n\r\n') < 0) {
    const [chunk] = (await Promise.race([once(socket, 'data'), once(socket, 'end').then(() => [null])])) as [Buffer | null];
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
  }
  socket.pause();
  const end = buf.indexOf('\r\n\r\n');
  const head = buf.subarray(0, end < 0 ? buf.length : end).toString('latin1');
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
  if (status !== 101) {
    const body = end < 0 ? '' : buf.subarray(end + 4).toString('utf8');
    socket.destroy();
    throw new UpgradeRefused(status, body);
  }
  const protocol = /^x-stream-protocol-version:\s*(.*)$/im.exec(head)?.[1].trim() ?? '';
  const session = new SpdySession(socket, { role: 'client', head: buf.subarray(end + 4), flowControl });
  if (flowControl) session.settings([{ id: SETTINGS_INITIAL_WINDOW_SIZE, value: DEFAULT_WINDOW }]);
  return { session, protocol, socket };
}

/**
 * A WebSocket to `url` with `protocols`. `messages` holds every message from the start (the
 * server may send in the same packet as its handshake, before a listener could be added).
 */
export async function wsConnect(url: string, protocols: string[]): Promise<{ ws: WebSocket; messages: Buffer[] }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols);
  const messages: Buffer[] = [];
  ws.on('message', (m: Buffer) => messages.push(m));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new UpgradeRefused(res.statusCode ?? 0, '')));
    ws.once('error', (e) => reject(E.CriStreamProtocol(`websocket: ${e.message}`)));
  });
  return { ws, messages };
}

/** Collect a readable's bytes until it ends. */
export async function readAll(r: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}
