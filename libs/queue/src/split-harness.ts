/**
 * Test helpers for split mode's pull queue: a private redis-server, a counting and throttling
 * HTTP proxy in front of a registry, and extra image-service worker processes. Used by the
 * tests of libs/queue only (not part of the library's API).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { Transform } from 'node:stream';

export interface TestRedis {
  readonly socket: string;
  /** SIGTERM redis-server and wait for it (data is not persisted). */
  stop(): Promise<void>;
  /** Start it again on the same socket. */
  start(): Promise<void>;
}

function waitExit(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => (p.exitCode !== null || p.signalCode !== null ? resolve() : p.once('exit', () => resolve())));
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up`);
}

/** redis-server on a private unix socket in `dir` (no TCP, no persistence). */
export async function startRedis(dir: string): Promise<TestRedis> {
  const socket = join(dir, 'redis.sock');
  let proc: ChildProcess | undefined;
  const r: TestRedis = {
    socket,
    async start() {
      proc = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', dir], {
        stdio: ['ignore', openSync(join(dir, 'redis.log'), 'a'), 'inherit'],
      });
      await waitFor('redis-server', () => existsSync(socket));
    },
    async stop() {
      if (!proc) return;
      const p = proc;
      proc = undefined;
      p.kill('SIGTERM');
      await waitExit(p);
    },
  };
  await r.start();
  return r;
}

/** What the proxy saw for one blob. */
export interface BlobCount {
  started: number;
  completed: number;
  aborted: number;
}

export interface CountingProxy {
  /** "127.0.0.1:PORT" */
  readonly host: string;
  /** Blob GETs by digest. */
  readonly blobs: Map<string, BlobCount>;
  close(): Promise<void>;
}

/**
 * An HTTP proxy to `upstream` (host:port) that counts blob downloads per digest (started,
 * completed, aborted) and sends blob bodies at about `bytesPerSecond` so that pulls last long
 * enough to be interrupted.
 */
export async function startCountingProxy(upstream: string, bytesPerSecond = 1 << 20): Promise<CountingProxy> {
  const [uhost, uport] = upstream.split(':');
  const blobs = new Map<string, BlobCount>();
  const server: Server = createServer((req, res) => {
    const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
    const isBlobGet = req.method === 'GET' && m;
    const c = isBlobGet ? blobs.get(m[1]) ?? { started: 0, completed: 0, aborted: 0 } : undefined;
    if (c && m) {
      blobs.set(m[1], c);
      c.started++;
    }
    const up = request({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (!c || (ur.statusCode ?? 0) >= 300) return void ur.pipe(res);
      const chunk = 16 * 1024;
      const delay = Math.max(1, Math.round((chunk / bytesPerSecond) * 1000));
      const throttle = new Transform({
        transform(buf: Buffer, _enc, cb) {
          const parts: Buffer[] = [];
          for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
          const next = () => {
            const p = parts.shift();
            if (!p) return cb();
            this.push(p);
            setTimeout(next, delay);
          };
          next();
        },
      });
      ur.pipe(throttle).pipe(res);
      res.on('finish', () => c.completed++);
      res.on('close', () => {
        if (!res.writableFinished) {
          c.aborted++;
          ur.destroy();
        }
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    blobs,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One more image-service process that only consumes pull jobs (`--queue-only`). */
export async function startQueueWorker(
  repo: string,
  d: { root: string; run: string },
  configFile: string,
  logFile: string,
  extra: string[] = [],
): Promise<ChildProcess> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const p = spawn(
    process.execPath,
    [join(repo, 'dist/apps/image-service/main.js'), '--root', d.root, '--run', d.run, '--config', configFile, '--queue-only', ...extra],
    { env, stdio: ['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')] },
  );
  return p;
}

export { waitExit };
