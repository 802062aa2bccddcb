import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { DEFAULT_SOCKET_GROUP, isCongaError, secureSocket, toCongaError, type CallContext, type Logger } from '@conga/common';
import type { Engine } from '../engine';
import { registerSystemRoutes } from './system-routes';
import { registerMetricsRoutes } from './metrics-routes';
import { registerImageRoutes } from './image-routes';
import { registerContainerRoutes } from './container-routes';
import { registerExecRoutes } from './exec-routes';
import { registerNetworkRoutes } from './network-routes';
import { registerEventRoutes } from './event-routes';
import { registerVolumeRoutes } from './volume-routes';
import { registerArchiveRoutes } from './archive-routes';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';

/** The call context of an API request: its id and its pino child logger. */
export function ctxOf(req: FastifyRequest, signal?: AbortSignal): CallContext {
  // fastify's req.log is already a pino child bound to the request id.
  return { requestId: String(req.id), log: req.log as Logger, signal };
}

/** An AbortSignal that fires when the client goes away. */
export function clientGone(req: FastifyRequest): AbortSignal {
  const ac = new AbortController();
  req.raw.socket.once('close', () => ac.abort());
  return ac.signal;
}

/** Send an error the way dockerd does: status from the error's kind, body {"message": ...}. */
export function sendError(reply: FastifyReply, e: unknown): void {
  const err = toCongaError(e);
  if (err.httpStatus >= 500) reply.log.error({ err: e }, err.message);
  else reply.log.info({ code: err.code }, err.message);
  void reply.code(err.httpStatus).header('content-type', 'application/json').send({ message: err.message });
}

/**
 * The Docker Engine API (v1.41 paths and shapes) served by fastify. Versioned paths
 * (/v1.41/containers/json) and unversioned ones are both served. A pino child logger per request.
 */
export async function createApiServer(engine: Engine, log: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log as unknown as import('fastify').FastifyBaseLogger,
    genReqId: () => Math.random().toString(16).slice(2, 10),
    rewriteUrl: (req: IncomingMessage) => (req.url ?? '/').replace(/^\/v\d+\.\d+(?=\/)/, ''),
    bodyLimit: 16 << 20,
  });
  // Docker clients send empty bodies with a JSON content type on POSTs; accept them.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body ?? '');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      const e = Object.assign(new Error(`invalid JSON body: ${text.slice(0, 80)}`), { statusCode: 400 });
      done(e, undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((e, _req, reply) => {
    if (isCongaError(e)) return sendError(reply, e);
    const status = (e as { statusCode?: number }).statusCode;
    if (status && status < 500) return void reply.code(status).send({ message: (e as Error).message });
    sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ message: `page not found: ${req.method} ${req.url}` });
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('Api-Version', API_VERSION);
    reply.header('Server', `Conga/${engine.version} (linux)`);
    reply.header('Docker-Experimental', 'false');
    reply.header('Ostype', 'linux');
  });
  registerMetricsRoutes(app, engine);
  registerSystemRoutes(app, engine);
  registerImageRoutes(app, engine);
  registerContainerRoutes(app, engine);
  registerExecRoutes(app, engine);
  registerNetworkRoutes(app, engine);
  registerEventRoutes(app, engine);
  registerVolumeRoutes(app, engine);
  registerArchiveRoutes(app, engine);
  return app;
}

/**
 * Listen on a unix socket (a stale socket is replaced): mode 0660, group `group` (daemon.json
 * "group", default "conga") when that group exists, else root:root (see secureSocket).
 */
export async function listenUnix(app: FastifyInstance, socketPath: string, group: string = DEFAULT_SOCKET_GROUP): Promise<void> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  rmSync(socketPath, { force: true });
  await app.listen({ path: socketPath });
  secureSocket(socketPath, group, app.log as unknown as Logger);
}

export function boolParam(v: unknown): boolean {
  return v === true || v === '1' || v === 'true' || v === 'True';
}
