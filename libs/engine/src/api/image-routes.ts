import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { E, layout, toCongaError, type CallContext, type Progress } from '@conga/common';
import type { Image, RegistryAuth } from '@conga/api';
import type { Engine } from '../engine';
import { boolParam, clientGone, ctxOf } from './server';
import { imageInspect, imageSummary, progressMessage } from './docker-format';
import { parseFilters } from './filters';

/** docker's X-Registry-Auth: base64url JSON {username, password, serveraddress, identitytoken, registrytoken}. */
export function registryAuthHeader(h: string | string[] | undefined): RegistryAuth | undefined {
  if (typeof h !== 'string' || h.trim() === '') return undefined;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw E.InvalidArgument('X-Registry-Auth is not base64-encoded JSON');
  }
  const s = (k: string) => (typeof j[k] === 'string' ? (j[k] as string) : '');
  return { username: s('username'), password: s('password'), identityToken: s('identitytoken'), registryToken: s('registrytoken'), serverAddress: s('serveraddress') };
}

/**
 * Run a streaming image operation: the 200 and headers go out with the first message, so an
 * error before any output still gets its own status code (404 for an unknown image), as dockerd.
 */
async function streamJson(req: FastifyRequest, reply: FastifyReply, run: (ctx: CallContext, write: (obj: unknown) => void) => Promise<void>): Promise<void> {
  const signal = clientGone(req);
  const ctx = ctxOf(req, signal);
  let started = false;
  const write = (obj: unknown) => {
    if (!started) {
      started = true;
      reply.hijack();
      reply.raw.writeHead(200, { 'Content-Type': 'application/json', 'Api-Version': '1.41' });
    }
    reply.raw.write(JSON.stringify(obj) + '\r\n');
  };
  try {
    await run(ctx, write);
  } catch (e) {
    const err = toCongaError(e);
    if (!started) throw err;
    write({ errorDetail: { message: err.message }, error: err.message });
  }
  if (!started) return void reply.code(200).type('application/json').send('');
  reply.raw.end();
}

/** A temp file the image service can read (same host, both modes); removed by the caller. */
async function transferFile(engine: Engine): Promise<string> {
  const dir = join(layout.engineDir(engine.paths), 'transfer');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return join(dir, randomBytes(12).toString('hex'));
}

function matchesImage(img: Image, f: Record<string, string[]>): boolean {
  for (const [k, vals] of Object.entries(f)) {
    if (vals.length === 0) continue;
    const ok = vals.some((v) => {
      switch (k) {
        case 'dangling':
          if (v !== 'true' && v !== 'false' && v !== '1' && v !== '0') throw E.InvalidArgument(`invalid filter 'dangling=${v}': use true or false`);
          return (img.repoTags.length === 0) === (v === 'true' || v === '1');
        case 'label': {
          let labels: Record<string, string> = {};
          try {
            labels = JSON.parse(img.configJson)?.config?.Labels ?? {};
          } catch {
            /* none */
          }
          const [lk, ...lv] = v.split('=');
          return lv.length ? labels[lk] === lv.join('=') : lk in labels;
        }
        case 'reference':
        case 'before':
        case 'since':
          return true; // applied elsewhere
        default:
          throw E.InvalidArgument(`invalid filter '${k}'`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

/**
 * Image endpoints: pull and import (POST /images/create), list, inspect, history, tag, push,
 * remove, prune, save (GET /images/get, /images/{name}/get), load, and /auth (login); logout is
 * the extension POST /conga/v1/auth/logout. Owner: image service engineer.
 */
export function registerImageRoutes(app: FastifyInstance, engine: Engine): void {
  const image = () => engine.services.image;

  app.post<{ Body: { username?: string; password?: string; serveraddress?: string } | undefined }>('/auth', async (req) => {
    const b = req.body ?? {};
    const res = await image().login({ username: b.username ?? '', password: b.password ?? '', serverAddress: b.serveraddress ?? '' }, ctxOf(req));
    return { Status: res.status, IdentityToken: res.identityToken ?? '' };
  });

  app.post<{ Body: { serveraddress?: string } | undefined }>('/conga/v1/auth/logout', async (req) => {
    const res = await image().logout({ serverAddress: req.body?.serveraddress ?? '' }, ctxOf(req));
    return { Removed: res.removed };
  });

  // Archive uploads (load, import) are streamed to a file, never parsed or buffered.
  void app.register(async (sub) => {
    sub.removeAllContentTypeParsers();
    sub.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    sub.post<{ Querystring: { fromImage?: string; fromSrc?: string; tag?: string; repo?: string; platform?: string; message?: string; changes?: string | string[] } }>(
      '/images/create',
      async (req, reply) => {
        const { fromImage, fromSrc, tag } = req.query;
        if (fromSrc !== undefined) {
          if (fromSrc !== '-') throw E.InvalidArgument('importing from a URL is not supported: pass the tarball in the request body (fromSrc=-)');
          const file = await transferFile(engine);
          try {
            await pipeline(req.body as Readable, createWriteStream(file, { mode: 0o600 }));
            let reference = req.query.repo ?? '';
            if (reference && tag) reference = `${reference}:${tag}`;
            const changes = req.query.changes === undefined ? [] : Array.isArray(req.query.changes) ? req.query.changes : [req.query.changes];
            const [os, architecture, variant] = (req.query.platform ?? '').split('/');
            await streamJson(req, reply, async (ctx, write) => {
              const img = await image().importImage(
                { path: file, reference, changes, message: req.query.message ?? '', platform: req.query.platform ? { os, architecture: architecture ?? '', variant: variant ?? '' } : undefined },
                { ...ctx, onProgress: (p: Progress) => write(progressMessage(p)) },
              );
              write({ status: img.id });
            });
          } finally {
            await rm(file, { force: true });
          }
          return;
        }
        if (!fromImage) throw E.InvalidArgument('fromImage or fromSrc is required');
        // docker: `tag` may be a tag or a digest; fromImage may carry its own tag.
        let ref = fromImage;
        if (tag) ref = tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
        const auth = registryAuthHeader(req.headers['x-registry-auth']);
        const [os, architecture, variant] = (req.query.platform ?? '').split('/');
        const platform = req.query.platform ? { os, architecture: architecture ?? '', variant: variant ?? '' } : undefined;
        await streamJson(req, reply, async (ctx, write) => {
          await image().pullImage({ reference: ref, auth, platform }, { ...ctx, onProgress: (p: Progress) => write(progressMessage(p)) });
        });
      },
    );

    sub.post<{ Querystring: { quiet?: string } }>('/images/load', async (req, reply) => {
      const file = await transferFile(engine);
      try {
        await pipeline(req.body as Readable, createWriteStream(file, { mode: 0o600 }));
        const quiet = boolParam(req.query.quiet);
        await streamJson(req, reply, async (ctx, write) => {
          await image().loadImages(
            { path: file },
            {
              ...ctx,
              onProgress: (p: Progress) => {
                if (p.status.startsWith('Loaded image')) write({ stream: `${p.status}\n` });
                else if (!quiet) write(progressMessage(p));
              },
            },
          );
        });
      } finally {
        await rm(file, { force: true });
      }
    });
  });

  app.get<{ Querystring: { all?: string; filters?: string; digests?: string } }>('/images/json', async (req) => {
    const f = parseFilters(req.query.filters);
    const { images } = await image().listImages({ references: f.reference ?? [] }, ctxOf(req));
    const byImage = new Map<string, number>();
    for (const c of engine.containers.list(true)) byImage.set(c.ImageID, (byImage.get(c.ImageID) ?? 0) + 1);
    let list = images.filter((img) => matchesImage(img, f));
    const createdOf = async (ref: string) => Date.parse((await image().getImage({ reference: ref }, ctxOf(req))).created || '0');
    if (f.before?.length) {
      const t = await createdOf(f.before[0]);
      list = list.filter((i) => Date.parse(i.created || '0') < t);
    }
    if (f.since?.length) {
      const t = await createdOf(f.since[0]);
      list = list.filter((i) => Date.parse(i.created || '0') > t);
    }
    return list.map((img) => imageSummary(img, byImage.get(img.id) ?? 0));
  });

  app.post<{ Querystring: { filters?: string } }>('/images/prune', async (req) => {
    const f = parseFilters(req.query.filters);
    const dangling = f.dangling?.[0];
    const until = f.until?.[0];
    const res = await image().pruneImages(
      {
        all: dangling === 'false' || dangling === '0',
        inUseImageIds: engine.containers.imagesInUse(),
        until: until ? (/^\d+(\.\d+)?$/.test(until) ? new Date(Number(until) * 1000).toISOString() : until) : '',
        labels: [...(f.label ?? []), ...(f['label!'] ?? []).map((l) => `!${l}`)],
      },
      ctxOf(req),
    );
    const deleted = [...res.untagged.map((u) => ({ Untagged: u })), ...res.deleted.map((d) => ({ Deleted: d }))];
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: Number(res.spaceReclaimed) };
  });

  const save = async (req: FastifyRequest, reply: FastifyReply, names: string[]) => {
    const file = await transferFile(engine);
    const ctx = ctxOf(req, clientGone(req));
    try {
      await image().saveImages({ references: names, path: file, format: 'docker-archive' }, ctx);
    } catch (e) {
      await rm(file, { force: true });
      throw e;
    }
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/x-tar', 'Api-Version': '1.41' });
    try {
      await pipeline(createReadStream(file), reply.raw);
    } catch (e) {
      ctx.log.info({ err: e }, 'image save stream ended early');
      reply.raw.destroy();
    } finally {
      await rm(file, { force: true });
    }
  };

  app.get<{ Querystring: { names?: string | string[] } }>('/images/get', async (req, reply) => {
    const n = req.query.names;
    const names = n === undefined ? [] : Array.isArray(n) ? n : [n];
    await save(req, reply, names);
  });

  app.get('/images/search', async () => {
    throw E.NotImplemented('searching a registry (docker search, /images/search); browse the registry itself');
  });

  app.get<{ Params: { '*': string } }>('/images/*', async (req, reply) => {
    const rest = req.params['*'];
    if (rest.endsWith('/json')) return imageInspect(await image().getImage({ reference: rest.slice(0, -5) }, ctxOf(req)));
    if (rest.endsWith('/get')) return save(req, reply, [rest.slice(0, -4)]);
    if (rest.endsWith('/history')) {
      const img = await image().getImage({ reference: rest.slice(0, -8) }, ctxOf(req));
      return imageHistory(engine, img, ctxOf(req));
    }
    return reply.code(404).send({ message: `page not found: ${req.url}` });
  });

  app.post<{ Params: { '*': string }; Querystring: { repo?: string; tag?: string } }>('/images/*', async (req, reply) => {
    const rest = req.params['*'];
    if (rest.endsWith('/tag')) {
      const { repo, tag } = req.query;
      if (!repo) throw E.InvalidArgument('repo is required');
      await image().tagImage({ source: rest.slice(0, -4), target: tag ? `${repo}:${tag}` : repo }, ctxOf(req));
      return reply.code(201).send();
    }
    if (rest.endsWith('/push')) {
      const name = rest.slice(0, -5);
      const { tag } = req.query;
      const auth = registryAuthHeader(req.headers['x-registry-auth']);
      await streamJson(req, reply, async (ctx, write) => {
        const res = await image().pushImage({ reference: tag ? `${name}:${tag}` : name, auth }, { ...ctx, onProgress: (p: Progress) => write(progressMessage(p)) });
        write({ progressDetail: {}, aux: { Tag: res.tag, Digest: res.digest, Size: Number(res.size) } });
      });
      return;
    }
    return reply.code(404).send({ message: `page not found: ${req.url}` });
  });

  app.delete<{ Params: { '*': string }; Querystring: { force?: string; noprune?: string } }>('/images/*', async (req) => {
    const ref = req.params['*'];
    const res = await image().deleteImage(
      { reference: ref, force: boolParam(req.query.force), inUseImageIds: engine.containers.imagesInUse() },
      ctxOf(req),
    );
    return [...res.untagged.map((u) => ({ Untagged: u })), ...res.deleted.map((d) => ({ Deleted: d }))];
  });
}

/** docker's GET /images/{name}/history from the image config (newest first). */
async function imageHistory(engine: Engine, img: Image, ctx: CallContext): Promise<Array<Record<string, unknown>>> {
  type Entry = { created?: string; created_by?: string; comment?: string; empty_layer?: boolean };
  let cfg: { history?: Entry[] } = {};
  try {
    cfg = JSON.parse(img.configJson);
  } catch {
    /* none */
  }
  const sizes: number[] = [];
  for (const c of img.chainIds) {
    try {
      sizes.push(Number((await engine.services.storage.getLayer({ chainId: c }, ctx)).size));
    } catch {
      sizes.push(0);
    }
  }
  const hist: Entry[] = cfg.history?.length ? cfg.history : img.diffIds.map(() => ({ created: img.created, created_by: '', comment: '' }));
  let layer = 0;
  const rows = hist.map((h) => {
    const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
    return { Id: '<missing>', Created: Math.floor(Date.parse(h.created || img.created || '1970-01-01T00:00:00Z') / 1000), CreatedBy: h.created_by ?? '', Tags: null as string[] | null, Size: size, Comment: h.comment ?? '' };
  });
  rows.reverse();
  if (rows.length) {
    rows[0].Id = img.id;
    rows[0].Tags = img.repoTags.length ? img.repoTags : null;
  }
  return rows;
}
