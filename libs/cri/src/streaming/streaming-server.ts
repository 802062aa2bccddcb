import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { E, type Logger } from '@conga/common';
import { TokenCache } from './token-cache';
import { serveSpdyPortForward, serveSpdyRemoteCommand, wantsSpdy } from './spdy-transport';
import { channelServer, serveWsPortForward, serveWsRemoteCommand, wantsWebSocket, WS_PORT_FORWARD_PROTOCOLS } from './ws-transport';
import { REMOTE_COMMAND_PROTOCOLS } from './remote-command';
import type { AttachRequest, ExecRequest, PortForwardRequest, StreamBackend } from './types';

export interface StreamingServerOptions {
  /** Address to listen on; kubelet connects from the same node. Default 127.0.0.1. */
  addr?: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
  log: Logger;
}

type Pending =
  | { kind: 'exec'; req: ExecRequest }
  | { kind: 'attach'; req: AttachRequest }
  | { kind: 'portforward'; req: PortForwardRequest };

/**
 * The CRI streaming server (owner: CRI streaming): Exec/Attach/PortForward RPCs get a one-time
 * URL (`execUrl` …, valid one minute), the client (kubelet/kubectl/crictl) upgrades a request
 * to it to SPDY/3.1 or WebSocket and the session runs on the {@link StreamBackend}.
 */
export class StreamingServer {
  private readonly http: Server;
  private readonly tokens = new TokenCache<Pending>();
  private readonly wsRemote = channelServer(REMOTE_COMMAND_PROTOCOLS);
  private readonly wsPortForward = channelServer(WS_PORT_FORWARD_PROTOCOLS);
  private readonly sockets = new Set<Duplex>();
  private base = '';

  constructor(
    private readonly backend: StreamBackend,
    private readonly opts: StreamingServerOptions,
  ) {
    this.http = createServer((req, res) => {
      // Only upgrades are served; a plain request is a client that cannot stream.
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('unable to upgrade: this URL needs an upgrade to SPDY/3.1 or WebSocket\n');
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_e, socket) => socket.destroy());
  }

  /** Listen; resolves once the port is known. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port ?? 0, this.opts.addr ?? '127.0.0.1', () => {
        this.http.off('error', reject);
        const a = this.http.address() as AddressInfo;
        const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        this.base = `http://${host}:${a.port}`;
        resolve();
      });
    });
  }

  /** The server's base URL, e.g. http://127.0.0.1:40123. */
  url(): string {
    if (!this.base) throw E.InvalidArgument('the streaming server is not started');
    return this.base;
  }

  execUrl(req: ExecRequest): string {
    if (!req.cmd.length) throw E.InvalidArgument('cmd must not be empty');
    if (!req.stdin && !req.stdout && !req.stderr) throw E.InvalidArgument('one of stdin, stdout, and stderr must be set');
    if (req.tty && req.stderr) throw E.InvalidArgument('tty and stderr cannot both be true');
    return `${this.url()}/exec/${this.tokens.put({ kind: 'exec', req: { ...req, cmd: [...req.cmd] } })}`;
  }

  attachUrl(req: AttachRequest): string {
    if (!req.stdin && !req.stdout && !req.stderr) throw E.InvalidArgument('one of stdin, stdout, and stderr must be set');
    if (req.tty && req.stderr) throw E.InvalidArgument('tty and stderr cannot both be true');
    return `${this.url()}/attach/${this.tokens.put({ kind: 'attach', req: { ...req } })}`;
  }

  portForwardUrl(req: PortForwardRequest): string {
    const bad = req.ports.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
    if (bad !== undefined) throw E.InvalidArgument(`invalid port ${bad}: ports are 1-65535`);
    return `${this.url()}/portforward/${this.tokens.put({ kind: 'portforward', req: { ...req, ports: [...req.ports] } })}`;
  }

  /** Stop listening and drop every live session. Idempotent. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.wsRemote.close();
    this.wsPortForward.close();
    if (this.http.listening) await new Promise<void>((r) => this.http.close(() => r()));
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    const p = m ? this.tokens.take(m[2]) : undefined;
    const fail = (status: string, msg: string): void => void socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(msg)}\r\nConnection: close\r\n\r\n${msg}`);
    if (!m || !p || p.kind !== m[1]) return fail('404 Not Found', 'unknown or expired streaming URL: ask the runtime for a new one (URLs are valid once, for one minute)\n');
    const log = this.opts.log.child({ stream: p.kind });
    const spdy = wantsSpdy(req);
    if (!spdy && !wantsWebSocket(req)) return fail('400 Bad Request', 'unable to upgrade: use Upgrade: SPDY/3.1 or websocket\n');
    if (p.kind === 'portforward') {
      if (spdy) serveSpdyPortForward(req, socket, head, this.backend, p.req, log);
      else void serveWsPortForward(this.wsPortForward, req, socket, head, this.backend, p.req, log);
      return;
    }
    const kind = p.kind === 'exec' ? { exec: p.req } : { attach: p.req };
    if (spdy) serveSpdyRemoteCommand(req, socket, head, this.backend, kind, log);
    else void serveWsRemoteCommand(this.wsRemote, req, socket, head, this.backend, kind, log);
  }
}
