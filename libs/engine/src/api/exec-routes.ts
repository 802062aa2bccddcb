import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { E, newContext, toCongaError, type CallContext, type Logger } from '@conga/common';
import { connectAttachSocket, type AttachConnection } from '@conga/executor/src/attach-socket';
import type { Engine } from '../engine';
import type { Containers } from '../containers';
import { frame, type LogRecord } from '../logs';
import { DetachDetector, parseDetachKeys } from '../detach-keys';
import { Execs, type ExecConfig } from '../execs';
import { API_VERSION, boolParam, ctxOf } from './server';
import { attachWebSocket } from './attach-ws';

type IdParams = { Params: { id: string } };

/** One hijacked connection: docker's raw stream (TTY) or multiplexed frames, plus its input. */
interface Hijacked {
  socket: Duplex;
  /** Input that arrived with the request (after its body). */
  head: Buffer;
  /** Can the client send input (true for an upgraded connection). */
  input: boolean;
}

/** Write dockerd's answer to a hijack request; the connection is a raw stream from here on. */
function hijackHeader(socket: Duplex, upgrade: boolean): void {
  socket.write(
    (upgrade ? 'HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n' : 'HTTP/1.1 200 OK\r\n') +
      `Content-Type: application/vnd.docker.raw-stream\r\nApi-Version: ${API_VERSION}\r\n\r\n`,
  );
}

/** An error answer on a connection that was not hijacked yet (dockerd's JSON body). */
function writeHttpError(socket: Duplex, e: unknown, log: Logger): void {
  const err = toCongaError(e);
  if (err.httpStatus >= 500) log.error({ err: e }, err.message);
  const body = JSON.stringify({ message: err.message });
  socket.end(
    `HTTP/1.1 ${err.httpStatus} ${err.httpStatus === 404 ? 'Not Found' : err.httpStatus === 409 ? 'Conflict' : err.httpStatus === 400 ? 'Bad Request' : 'Error'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Read `len` body bytes from `head` and then the socket; resolves with the body and the rest. */
function readBody(socket: Duplex, head: Buffer, len: number): Promise<{ body: Buffer; rest: Buffer }> {
  if (head.length >= len) return Promise.resolve({ body: head.subarray(0, len), rest: head.subarray(len) });
  return new Promise((resolve, reject) => {
    let buf = head;
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= len) {
        socket.off('data', onData);
        socket.off('close', onClose);
        socket.pause();
        resolve({ body: buf.subarray(0, len), rest: buf.subarray(len) });
      }
    };
    const onClose = () => reject(E.InvalidArgument('the client closed the connection before sending the request body'));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/**
 * Pump one session over a hijacked connection: `output` is written as raw bytes (TTY) or
 * multiplexed frames; input goes through the detach-key detector to `sendInput`. Resolves when
 * the session ends (process gone, client gone, or detach keys typed).
 */
function pump(
  h: Hijacked,
  tty: boolean,
  detachKeys: Buffer,
  io: { sendInput(b: Buffer): void; endInput(): void; onEnd(stop: (why: 'detach' | 'client' | 'done') => void): void },
): Promise<'detach' | 'client' | 'done'> {
  return new Promise((resolve) => {
    let finished = false;
    const stop = (why: 'detach' | 'client' | 'done') => {
      if (finished) return;
      finished = true;
      h.socket.off('data', onData);
      if (why !== 'client') h.socket.end();
      resolve(why);
    };
    const det = new DetachDetector(tty ? detachKeys : Buffer.alloc(0));
    const onData = (d: Buffer) => {
      const { forward, detach } = det.push(d);
      if (forward.length) io.sendInput(forward);
      if (detach) stop('detach');
    };
    if (h.input) {
      if (h.head.length) onData(h.head);
      h.socket.on('data', onData);
      h.socket.once('end', () => !finished && io.endInput());
      h.socket.resume();
    }
    h.socket.once('close', () => stop('client'));
    h.socket.on('error', () => stop('client'));
    io.onEnd(stop);
  });
}

/** Writes one stream's bytes to a hijacked connection. */
function writer(socket: Duplex, tty: boolean): (stream: 'stdout' | 'stderr', data: Buffer) => void {
  return (stream, data) => {
    if (!socket.destroyed && socket.writable) socket.write(tty ? data : frame(stream, data));
  };
}

/** Resolves true once the container runs (now or later), false if it is removed or `signal` fires. */
export function whenRunning(ctrs: Containers, id: string, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      ctrs.off(`start:${id}`, onStart);
      ctrs.off(`removed:${id}`, onGone);
      resolve(v);
    };
    const onStart = () => done(true);
    const onGone = () => done(false);
    ctrs.on(`start:${id}`, onStart);
    ctrs.on(`removed:${id}`, onGone);
    signal.addEventListener('abort', () => done(false), { once: true });
    try {
      if (ctrs.get(id).State.Status === 'running') done(true);
    } catch {
      done(false);
    }
  });
}

/**
 * docker attach over a hijacked connection: output from the container's log (from its start
 * when attached before it, as `docker run` does, so nothing is lost), input to conmon's attach
 * socket once the container runs, detach keys (ctrl-p ctrl-q by default) end the session only.
 */
async function attachSession(engine: Engine, h: Hijacked, id: string, q: Record<string, string | undefined>, ctx: CallContext): Promise<void> {
  const ctrs = engine.containers;
  const c = ctrs.get(id);
  const tty = !!c.Config.Tty;
  const keys = parseDetachKeys(q.detachKeys);
  const wantStdin = boolParam(q.stdin) && !!c.Config.OpenStdin && h.input;
  const ac = new AbortController();
  const write = writer(h.socket, tty);
  let conn: AttachConnection | undefined;
  const pending: Buffer[] = [];
  let inputEnded = false;
  const sendInput = (b: Buffer) => (conn ? conn.write(b) : pending.push(b));
  const endInput = () => {
    inputEnded = true;
    conn?.endInput();
  };
  hijackHeader(h.socket, true);
  if (wantStdin) {
    void (async () => {
      if (!(await whenRunning(ctrs, c.Id, ac.signal))) return;
      try {
        const target = await engine.services.executor.attachTask({ containerId: c.Id }, ctx);
        const cn = await connectAttachSocket(target.socketPath, { discardOutput: true });
        if (ac.signal.aborted) return cn.close();
        conn = cn;
        for (const b of pending.splice(0)) cn.write(b);
        if (inputEnded) cn.endInput();
      } catch (e) {
        ctx.log.warn({ err: e, id: c.Id }, 'attach: cannot forward stdin');
      }
    })();
  }
  const why = await pump(h, tty, keys, {
    sendInput: wantStdin ? sendInput : () => undefined,
    endInput,
    onEnd: (stop) => {
      const stdout = !q.stdout || boolParam(q.stdout);
      const stderr = !q.stderr || boolParam(q.stderr);
      const emit = (r: LogRecord) => write(r.stream, Buffer.from(r.data, 'utf8'));
      // stream=0 with logs=1: what the container wrote so far, then the end (dockerd's answer).
      const logs = boolParam(q.stream) || !q.stream
        ? ctrs.attach(c.Id, { stdout, stderr, logs: boolParam(q.logs), signal: ac.signal }, emit)
        : boolParam(q.logs) ? ctrs.logs(c.Id, { stdout, stderr, follow: false, signal: ac.signal }, emit) : Promise.resolve();
      logs.then(() => stop('done'), (e) => {
        ctx.log.warn({ err: e }, 'attach stream failed');
        stop('done');
      });
    },
  });
  ac.abort();
  conn?.close();
  ctx.log.debug({ id: c.Id, why }, 'attach ended');
}

/** docker exec start over a hijacked connection; the exit code is recorded before it closes. */
async function execSession(execs: Execs, h: Hijacked, id: string, ctx: CallContext): Promise<void> {
  const r = execs.get(id);
  const tty = !!r.Config.Tty;
  const keys = parseDetachKeys(r.Config.DetachKeys);
  let conn;
  try {
    conn = (await execs.start(id, false, ctx))!;
  } catch (e) {
    // A command that cannot start (exit code 127/126 recorded): like dockerd, the stream opens
    // and carries the error, and the client reads the exit code from GET /exec/{id}/json.
    if (r.ExitCode === null) throw e;
    hijackHeader(h.socket, h.input);
    writer(h.socket, tty)('stderr', Buffer.from(`${(e as Error).message}\r\n`));
    h.socket.end();
    return;
  }
  hijackHeader(h.socket, h.input);
  const write = writer(h.socket, tty);
  const out = !!r.Config.AttachStdout;
  const err = !!r.Config.AttachStderr;
  conn.on('data', (s: 'stdout' | 'stderr', b: Buffer) => (s === 'stdout' ? out : err) && write(s, b));
  const why = await pump(h, tty, keys, {
    sendInput: (b) => r.Config.AttachStdin && conn.write(b),
    endInput: () => conn.endInput(),
    onEnd: (stop) => {
      void conn.closed.then(async () => {
        await execs.finish(id);
        stop('done');
      });
    },
  });
  if (why !== 'done') conn.close();
  void execs.finish(id);
}

/**
 * Exec, attach and resize endpoints (owner: exec/attach). POST /containers/{id}/attach and
 * POST /exec/{id}/start hijack the connection like dockerd: with `Upgrade: tcp` node's http
 * server emits 'upgrade' (fastify never sees those requests), answered `101 UPGRADED` and then
 * the raw stream both ways; without it fastify routes them and the answer is a plain 200 stream.
 */
export function registerExecRoutes(app: FastifyInstance, engine: Engine): void {
  const execs = new Execs(engine.containers, engine.services, engine.log);

  app.post<IdParams & { Body: ExecConfig }>('/containers/:id/exec', async (req, reply) => {
    return reply.code(201).send(execs.create(req.params.id, req.body));
  });

  app.get<IdParams>('/exec/:id/json', async (req) => execs.inspect(req.params.id));

  app.post<IdParams & { Body: { Detach?: boolean; Tty?: boolean } | undefined }>('/exec/:id/start', async (req, reply) => {
    const ctx = ctxOf(req);
    if (req.body?.Detach) {
      await execs.start(req.params.id, true, ctx);
      return reply.code(200).send();
    }
    execs.get(req.params.id);
    reply.hijack();
    const socket = req.raw.socket;
    try {
      await execSession(execs, { socket, head: Buffer.alloc(0), input: false }, req.params.id, ctx);
    } catch (e) {
      writeHttpError(socket, e, req.log as Logger);
    }
  });

  app.post<IdParams & { Querystring: { h?: string; w?: string } }>('/exec/:id/resize', async (req, reply) => {
    await execs.resize(req.params.id, Number(req.query.h), Number(req.query.w), ctxOf(req));
    return reply.code(201).send();
  });

  app.post<IdParams & { Querystring: { h?: string; w?: string } }>('/containers/:id/resize', async (req, reply) => {
    const c = engine.containers.get(req.params.id);
    if (c.State.Status !== 'running') throw E.ContainerNotRunning(c.Id);
    await engine.services.executor.resizeTask({ containerId: c.Id, height: Number(req.query.h), width: Number(req.query.w) }, ctxOf(req));
    return reply.code(200).send();
  });

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const log = engine.log.child({ reqId: Math.random().toString(16).slice(2, 10), url: req.url });
    const ctx = newContext(log);
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://conga');
    const path = url.pathname.replace(/^\/v\d+\.\d+(?=\/)/, '');
    const q = Object.fromEntries(url.searchParams) as Record<string, string | undefined>;
    const ws = /^\/containers\/([^/]+)\/attach\/ws$/.exec(path);
    if (ws && req.method === 'GET') return attachWebSocket(engine, req, socket, head, decodeURIComponent(ws[1]), q, ctx);
    const attach = /^\/containers\/([^/]+)\/attach$/.exec(path);
    const start = /^\/exec\/([^/]+)\/start$/.exec(path);
    void (async () => {
      try {
        if (req.method !== 'POST' || (!attach && !start)) throw E.UpgradeNotFound(`${req.method} ${path}`);
        const len = Number(req.headers['content-length'] ?? 0) || 0;
        if (len > 1 << 20) throw E.InvalidArgument('request body too large');
        const { body, rest } = await readBody(socket, head, len);
        const h: Hijacked = { socket, head: rest, input: true };
        if (attach) {
          await attachSession(engine, h, decodeURIComponent(attach[1]), q, ctx);
        } else {
          const id = decodeURIComponent(start![1]);
          let parsed: { Detach?: boolean } = {};
          try {
            parsed = body.length ? JSON.parse(body.toString('utf8')) : {};
          } catch {
            throw E.InvalidArgument(`invalid JSON body: ${body.toString('utf8').slice(0, 80)}`);
          }
          if (parsed.Detach) {
            await execs.start(id, true, ctx);
            socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
            return;
          }
          await execSession(execs, h, id, ctx);
        }
      } catch (e) {
        if (!socket.destroyed) writeHttpError(socket, e, log);
      }
    })();
  });
}
