import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { E, toCongaError, type Logger } from '@conga/common';
import { RstStatus } from './spdy-frames';
import { SpdySession, type SpdyStream } from './spdy-session';
import { protocolVersion, REMOTE_COMMAND_PROTOCOLS, runRemoteCommand } from './remote-command';
import type { AttachRequest, ExecRequest, PortForwardRequest, StreamBackend } from './types';

/** Port forwarding's one SPDY protocol. */
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
/** How long a client may take to open the streams of a session (kubelet: 30 s). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** The protocol names a client offers (X-Stream-Protocol-Version, repeated or comma-joined). */
export function offeredProtocols(req: IncomingMessage, header = 'x-stream-protocol-version'): string[] {
  const raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === header) raw.push(req.rawHeaders[i + 1]);
  return raw.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** The first protocol the client offers that we speak ('' when it offers none: the legacy v1). */
export function negotiate(offered: string[], supported: string[]): string | undefined {
  if (offered.length === 0) return '';
  return offered.find((p) => supported.includes(p));
}

/** Is this an upgrade to SPDY/3.1? */
export function wantsSpdy(req: IncomingMessage): boolean {
  return /^spdy\/3\.1$/i.test(String(req.headers.upgrade ?? '').trim());
}

function refuse(socket: Duplex, status: string, message: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
}

/** Answer the upgrade and start a SPDY session on the connection (undefined: refused). */
function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, supported: string[], log: Logger): { session: SpdySession; protocol: string } | undefined {
  const protocol = negotiate(offeredProtocols(req), supported);
  if (protocol === undefined) {
    refuse(socket, '403 Forbidden', `unable to upgrade: none of the offered stream protocols [${offeredProtocols(req).join(', ')}] is supported; supported: ${supported.join(', ')}`);
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
      (protocol ? `X-Stream-Protocol-Version: ${protocol}\r\n` : '') + '\r\n',
  );
  const session = new SpdySession(socket, { role: 'server', log, head });
  return { session, protocol };
}

/**
 * Exec or attach over SPDY: the client opens one stream per channel (header `streamtype`:
 * error, stdin, stdout, stderr, resize); the session starts when all expected streams are
 * there, and the connection closes when it ends.
 */
export function serveSpdyRemoteCommand(
  req: IncomingMessage, socket: Duplex, head: Buffer, backend: StreamBackend,
  kind: { exec: ExecRequest } | { attach: AttachRequest }, log: Logger,
): void {
  const up = upgrade(req, socket, head, REMOTE_COMMAND_PROTOCOLS.filter((p) => p !== 'v5.channel.k8s.io'), log);
  if (!up) return;
  const { session, protocol } = up;
  const version = protocolVersion(protocol || 'channel.k8s.io');
  const opts = 'exec' in kind ? kind.exec : kind.attach;
  const expected = new Set(['error']);
  if (opts.stdin) expected.add('stdin');
  if (opts.stdout) expected.add('stdout');
  if (opts.stderr && !opts.tty) expected.add('stderr');
  if (opts.tty && version >= 3) expected.add('resize');
  const got = new Map<string, SpdyStream>();
  const ac = new AbortController();
  session.once('close', () => ac.abort());
  const timer = setTimeout(() => {
    log.debug({ got: [...got.keys()] }, 'streaming: the client did not open its streams in time');
    void session.close();
  }, STREAM_CREATION_TIMEOUT_MS);
  session.on('stream', (s: SpdyStream) => {
    const type = s.header('streamtype');
    if (!expected.has(type) || got.has(type)) {
      s.reset(RstStatus.REFUSED_STREAM);
      return;
    }
    got.set(type, s);
    s.on('error', () => undefined);
    void s.reply();
    if (got.size < expected.size) return;
    clearTimeout(timer);
    const ch = { stdin: got.get('stdin'), stdout: got.get('stdout'), stderr: got.get('stderr'), error: got.get('error')!, resize: got.get('resize') };
    // Output-only streams carry nothing from the client: drain their FIN.
    for (const t of ['stdout', 'stderr', 'error']) got.get(t)?.resume();
    void runRemoteCommand(backend, kind, ch, version, ac.signal, log).finally(() => session.close());
  });
}

/**
 * Port forwarding over SPDY: per connection the client opens an `error` and a `data` stream
 * with the same `requestid` and a `port` header; the data stream is relayed to that port in
 * the pod, failures are written to the error stream. Many pairs share one connection.
 */
export function serveSpdyPortForward(req: IncomingMessage, socket: Duplex, head: Buffer, backend: StreamBackend, pf: PortForwardRequest, log: Logger): void {
  const up = upgrade(req, socket, head, [PORT_FORWARD_PROTOCOL], log);
  if (!up) return;
  const { session } = up;
  const ac = new AbortController();
  session.once('close', () => ac.abort());
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
  session.on('stream', (s: SpdyStream) => {
    const type = s.header('streamtype');
    const id = s.header('requestid');
    const port = Number(s.header('port'));
    if ((type !== 'error' && type !== 'data') || !id) {
      s.reset(RstStatus.REFUSED_STREAM);
      return;
    }
    s.on('error', () => undefined);
    void s.reply();
    const pair = pairs.get(id) ?? {};
    pairs.set(id, pair);
    if (pair[type]) return s.reset(RstStatus.STREAM_IN_USE);
    pair[type] = s;
    if (type === 'error') s.resume();
    if (!pair.error || !pair.data) return;
    pairs.delete(id);
    const { error, data } = pair;
    void (async () => {
      try {
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw E.InvalidArgument(`invalid port "${s.header('port')}" in port-forward request ${id}: ports are 1-65535`);
        if (pf.ports.length && !pf.ports.includes(port)) throw E.InvalidArgument(`port ${port} was not part of the port-forward request (${pf.ports.join(', ')})`);
        await backend.portForward(pf.podSandboxId, port, data, ac.signal);
      } catch (e) {
        const msg = toCongaError(e).message;
        log.debug({ err: e }, msg);
        if (!error.destroyed) error.write(msg);
      }
      if (!data.destroyed && !data.writableEnded) data.end();
      if (!error.destroyed && !error.writableEnded) error.end();
    })();
  });
}
