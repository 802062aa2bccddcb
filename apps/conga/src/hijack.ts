/**
 * Hijacked Engine API connections for attach and exec (owner: exec/attach, CLI side): the
 * request carries `Connection: Upgrade` + `Upgrade: tcp`, the daemon answers `101 UPGRADED`,
 * and the socket then carries the raw stream both ways. `interact` runs one session: raw mode
 * and window-size tracking on a terminal, demultiplexing (stdout/stderr apart) without one.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { apiPath, daemonError, errorMessage, readText, type ApiClient, type Query } from './client';
import type { Io } from './commands/types';
import { Demuxer } from './demux';
import { E } from './errors';

/** An upgraded connection and what arrived with the 101 answer. */
export interface Hijacked {
  socket: Socket;
  head: Buffer;
}

/** POST `path` with an upgrade; resolves with the raw connection, rejects with the daemon's error. */
export function hijack(client: ApiClient, path: string, query: Query, body?: unknown): Promise<Hijacked> {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request({
      socketPath: client.host.socketPath,
      method: 'POST',
      path: apiPath(path, query),
      agent: false,
      headers: {
        'User-Agent': 'conga-cli', Host: 'conga', Connection: 'Upgrade', Upgrade: 'tcp',
        'Content-Type': 'application/json', 'Content-Length': payload.length,
      },
    });
    req.on('upgrade', (_res, socket, head) => resolve({ socket, head }));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      readText(res).then(
        (text) => reject(status >= 400 ? daemonError(status, errorMessage(text, status)) : E.DaemonStreamError(`the daemon did not upgrade the connection for ${path} (status ${status})`)),
        reject,
      );
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? E.DaemonUnreachable(client.host.uri) : E.DaemonStreamError(`${path}: ${e.message}`)),
    );
    req.end(payload);
  });
}

/** Options of {@link interact}. */
export interface InteractOptions {
  tty: boolean;
  /** Forward this process's stdin. */
  stdin: boolean;
  /** Called with the terminal size now and on every change (TTY sessions on a terminal only). */
  resize?: (rows: number, cols: number) => void;
}

/**
 * Run one session over a hijacked connection until the daemon closes it (process exit, or the
 * detach keys, which the daemon watches for). Restores the terminal mode afterwards.
 */
export function interact(h: Hijacked, io: Io, o: InteractOptions): Promise<void> {
  const stdin = process.stdin;
  const raw = o.tty && o.stdin && stdin.isTTY;
  const out = process.stdout;
  const onResize = () => o.resize?.(out.rows, out.columns);
  return new Promise<void>((resolve) => {
    const demux = new Demuxer();
    const onOutput = (chunk: Buffer) => {
      if (o.tty) return io.out(chunk);
      for (const f of demux.push(chunk)) {
        if (f.stream === 2) io.err(f.data);
        else if (f.stream !== 3) io.out(f.data);
        else io.err(f.data);
      }
    };
    if (h.head.length) onOutput(h.head);
    h.socket.on('data', onOutput);
    const onInput = (d: Buffer) => h.socket.write(d);
    const onInputEnd = () => {
      if (!h.socket.destroyed) h.socket.end();
    };
    if (o.stdin) {
      if (raw) stdin.setRawMode(true);
      stdin.on('data', onInput);
      stdin.once('end', onInputEnd);
      stdin.resume();
    }
    if (o.tty && out.isTTY && o.resize) {
      out.on('resize', onResize);
      onResize();
    }
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (o.stdin) {
        stdin.off('data', onInput);
        stdin.off('end', onInputEnd);
        if (raw) stdin.setRawMode(false);
        stdin.pause();
      }
      out.off('resize', onResize);
      resolve();
    };
    h.socket.on('end', finish);
    h.socket.on('close', finish);
    h.socket.on('error', finish);
  });
}
