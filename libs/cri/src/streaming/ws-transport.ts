import type { IncomingMessage } from 'node:http';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { E, toCongaError, type Logger } from '@conga/common';
import { protocolVersion, REMOTE_COMMAND_PROTOCOLS, runRemoteCommand } from './remote-command';
import { PORT_FORWARD_PROTOCOL } from './spdy-transport';
import type { AttachRequest, ExecRequest, PortForwardRequest, StreamBackend } from './types';

/** WebSocket port forwarding speaks the v4 channel framing under either name. */
export const WS_PORT_FORWARD_PROTOCOLS = [PORT_FORWARD_PROTOCOL, 'v4.channel.k8s.io'];

/** Channel numbers of the k8s channel protocol. */
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
/** v5: a message [255, n] closes channel n (stdin EOF). */
const CLOSE = 255;

/** A WebSocket upgrade? */
export function wantsWebSocket(req: IncomingMessage): boolean {
  return /^websocket$/i.test(String(req.headers.upgrade ?? '').trim());
}

/** A WebSocket server (no listener of its own) that picks the first offered protocol of `supported`. */
export function channelServer(supported: string[]): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 16 << 20,
    handleProtocols: (offered) => [...offered].find((p) => supported.includes(p)) ?? false,
  });
}

/** Writes to one channel: every chunk is a binary message prefixed by the channel number. */
function channelWriter(ws: WebSocket, ch: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) return cb();
      ws.send(Buffer.concat([Buffer.from([ch]), chunk]), { binary: true }, () => cb());
    },
  });
}

function accept(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
  return new Promise((resolve) => wss.handleUpgrade(req, socket, head, resolve));
}

/**
 * Exec or attach over WebSocket (channel protocol v1–v5): one connection, each message
 * prefixed by its channel; the error channel gets the outcome, then the socket closes.
 */
export async function serveWsRemoteCommand(
  wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, backend: StreamBackend,
  kind: { exec: ExecRequest } | { attach: AttachRequest }, log: Logger,
): Promise<void> {
  const ws = await accept(wss, req, socket, head);
  if (!ws.protocol || !REMOTE_COMMAND_PROTOCOLS.includes(ws.protocol)) {
    ws.close(1002, 'none of the offered subprotocols is supported');
    return;
  }
  const version = protocolVersion(ws.protocol);
  const opts = 'exec' in kind ? kind.exec : kind.attach;
  const stdin = opts.stdin ? new PassThrough() : undefined;
  const resize = opts.tty ? new PassThrough() : undefined;
  const ac = new AbortController();
  ws.on('message', (data: Buffer) => {
    if (data.length === 0) return;
    const ch = data[0];
    if (ch === CLOSE && version >= 5) {
      if (data[1] === STDIN) stdin?.end();
      return;
    }
    const body = data.subarray(1);
    if (ch === STDIN && stdin && !stdin.writableEnded) stdin.write(body);
    else if (ch === RESIZE && resize) resize.write(body);
  });
  ws.on('close', () => {
    ac.abort();
    stdin?.end();
    resize?.end();
  });
  ws.on('error', () => undefined);
  await runRemoteCommand(backend, kind, {
    stdin,
    stdout: opts.stdout ? channelWriter(ws, STDOUT) : undefined,
    stderr: opts.stderr && !opts.tty ? channelWriter(ws, STDERR) : undefined,
    error: channelWriter(ws, ERROR),
    resize,
  }, version, ac.signal, log);
  ws.close(1000);
}

/**
 * Port forwarding over WebSocket: the ports come from the request (or the `port` query
 * parameters); port i uses channel 2i for data and 2i+1 for errors, and the first message on
 * each is the port number (16-bit little endian), as kubelet does.
 */
export async function serveWsPortForward(
  wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, backend: StreamBackend, pf: PortForwardRequest, log: Logger,
): Promise<void> {
  const query = new URL(req.url ?? '/', 'http://x').searchParams.getAll('port').flatMap((p) => p.split(','));
  const ws = await accept(wss, req, socket, head);
  const ac = new AbortController();
  ws.on('error', () => undefined);
  const ports = pf.ports.length ? pf.ports : query.map(Number);
  const bad = query.find((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535);
  if (!ws.protocol || ports.length === 0 || bad !== undefined) {
    ws.close(1008, ws.protocol ? (bad !== undefined ? `invalid port "${bad}"` : 'no port to forward: add port=N to the URL') : 'unsupported subprotocol');
    return;
  }
  const conns = ports.map((port, i) => {
    const writer = channelWriter(ws, 2 * i);
    const conn: Duplex = new Duplex({
      read() {},
      write(chunk: Buffer, enc, cb) {
        writer.write(chunk, enc, cb);
      },
    });
    const portMsg = Buffer.alloc(2);
    portMsg.writeUInt16LE(port);
    const errors = channelWriter(ws, 2 * i + 1);
    writer.write(portMsg);
    errors.write(portMsg);
    return { port, conn, errors };
  });
  ws.on('message', (data: Buffer) => {
    const c = conns[data[0] / 2];
    if (data.length > 1 && data[0] % 2 === 0 && c) c.conn.push(data.subarray(1));
  });
  ws.on('close', () => {
    ac.abort();
    for (const c of conns) c.conn.push(null);
  });
  await Promise.all(conns.map(async (c) => {
    try {
      if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) throw E.InvalidArgument(`invalid port ${c.port}`);
      await backend.portForward(pf.podSandboxId, c.port, c.conn, ac.signal);
    } catch (e) {
      const msg = toCongaError(e).message;
      log.debug({ err: e }, msg);
      c.errors.write(msg);
    }
  }));
  ws.close(1000);
}
