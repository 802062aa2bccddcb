/**
 * docker cp / export / diff routes: HEAD|GET|PUT /containers/{id}/archive, GET
 * /containers/{id}/export and GET /containers/{id}/changes. Owner: engine (cp/archive).
 * Registered in their own fastify scope so that PUT bodies (tar) reach us as a stream instead
 * of being buffered by the server-wide parser.
 */
import { dirname, join } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { E, digestHex, layout, type CallContext } from '@conga/common';
import type { Engine } from '../engine';
import { archivePath, extractInto, statPath, type PathStat } from '../container-archive';
import { changes, exportRoot } from '../container-export';
import { ScopedRoot } from '../scoped-fs';
import { boolParam, ctxOf } from './server';

type ArchiveReq = { Params: { id: string }; Querystring: { path?: string; noOverwriteDirNonDir?: string; copyUIDGID?: string } };

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

const statHeader = (s: PathStat) => Buffer.from(JSON.stringify(s)).toString('base64');

function pathParam(req: FastifyRequest<ArchiveReq>): string {
  const p = req.query.path;
  if (!p) throw E.InvalidArgument('bad parameter: path cannot be empty (give the container path to copy, e.g. path=/etc/hosts)');
  return p;
}

/** Open the container root given by withFilesystem for the duration of `fn`. */
async function scoped<T>(root: string, fn: (r: ScopedRoot) => Promise<T>): Promise<T> {
  const r = await ScopedRoot.open(root);
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}

/** Stream a tar to the client; a failure after the headers went out can only cut the stream. */
async function sendTar(reply: FastifyReply, tar: NodeJS.ReadableStream, headers: Record<string, string> = {}): Promise<void> {
  reply.hijack();
  reply.raw.writeHead(200, { 'Content-Type': 'application/x-tar', 'Api-Version': '1.41', ...headers });
  try {
    await pipeline(tar, reply.raw);
  } catch (e) {
    reply.log.warn({ err: e }, 'tar stream to the client failed');
    reply.raw.destroy();
  }
}

/** Image layer dirs of a rootfs, top first (read-only; for docker diff's added/changed). */
async function imageLayerDirs(engine: Engine, chainId: string, ctx: CallContext): Promise<string[]> {
  const out: string[] = [];
  // The storage service keeps layers as <storage>/layers/<hex> (libs/storage layout.ts).
  for (let id = chainId; id; ) {
    out.push(join(layout.storageDir(engine.paths), 'layers', digestHex(id)));
    id = (await engine.services.storage.getLayer({ chainId: id }, ctx)).parentChainId;
  }
  return out;
}

export function registerArchiveRoutes(app: FastifyInstance, engine: Engine): void {
  const ctrs = engine.containers;
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // The handler reads the raw request (a tar of any size) itself.
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));

    scope.head<ArchiveReq>('/containers/:id/archive', async (req, reply) => {
      const path = pathParam(req);
      const stat = await ctrs.withFilesystem(req.params.id, {}, ctxOf(req), (root) => scoped(root, (r) => statPath(r, path, req.params.id)));
      return reply.code(200).header(STAT_HEADER, statHeader(stat)).header('Content-Type', 'application/json').send();
    });

    scope.get<ArchiveReq>('/containers/:id/archive', { exposeHeadRoute: false }, async (req, reply) => {
      const path = pathParam(req);
      await ctrs.withFilesystem(req.params.id, {}, ctxOf(req), (root) =>
        scoped(root, async (r) => {
          const { stat, tar } = await archivePath(r, path, req.params.id);
          await sendTar(reply, tar, { [STAT_HEADER]: statHeader(stat) });
        }),
      );
    });

    scope.put<ArchiveReq>('/containers/:id/archive', async (req, reply) => {
      const path = pathParam(req);
      const opts = { noOverwriteDirNonDir: boolParam(req.query.noOverwriteDirNonDir), copyUIDGID: boolParam(req.query.copyUIDGID) };
      const c = ctrs.get(req.params.id);
      if (c.HostConfig.ReadonlyRootfs) {
        req.raw.resume();
        await finished(req.raw).catch(() => undefined);
        throw E.CopyInvalid(path, req.params.id, 'the container rootfs is read-only (--read-only)');
      }
      try {
        await ctrs.withFilesystem(req.params.id, {}, ctxOf(req), (root) => scoped(root, (r) => extractInto(r, path, req.params.id, req.raw, opts)));
      } catch (e) {
        // Read the rest of the body so the client gets our answer instead of EPIPE.
        req.raw.resume();
        await finished(req.raw).catch(() => undefined);
        throw e;
      }
      return reply.code(200).send();
    });

    scope.get<{ Params: { id: string } }>('/containers/:id/export', async (req, reply) => {
      await ctrs.withFilesystem(req.params.id, { rootfsOnly: true }, ctxOf(req), (root) =>
        scoped(root, async (r) => sendTar(reply, await exportRoot(r))),
      );
    });

    scope.get<{ Params: { id: string } }>('/containers/:id/changes', async (req) => {
      const ctx = ctxOf(req);
      const c = ctrs.get(req.params.id);
      const rootfs = await engine.services.storage.getRootfs({ containerId: c.Id }, ctx);
      // The writable layer sits next to the merged mount (libs/storage layout.ts: rootfs/<id>/{upper,merged}).
      const upper = await ScopedRoot.open(join(dirname(rootfs.mountPath), 'upper'));
      try {
        return await changes(upper, await imageLayerDirs(engine, rootfs.chainId, ctx));
      } finally {
        await upper.close();
      }
    });
  });
}
