import type { FastifyInstance } from 'fastify';
import { toCongaError, type Progress } from '@conga/common';
import type { Engine } from '../engine';
import { boolParam, clientGone, ctxOf } from './server';
import { imageInspect, imageSummary, progressMessage } from './docker-format';

/** Image endpoints: pull (POST /images/create), list, inspect, remove. */
export function registerImageRoutes(app: FastifyInstance, engine: Engine): void {
  app.post<{ Querystring: { fromImage?: string; tag?: string; platform?: string } }>('/images/create', async (req, reply) => {
    const { fromImage, tag } = req.query;
    if (!fromImage) return reply.code(400).send({ message: 'fromImage is required (importing from a source is not supported yet)' });
    // docker: `tag` may be a tag or a digest; fromImage may carry its own tag.
    let ref = fromImage;
    if (tag) ref = tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
    const signal = clientGone(req);
    const ctx = ctxOf(req, signal);
    // Headers are sent with the first progress message, so an error before any output still
    // gets its proper status code (404 for an unknown image), as with dockerd.
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
      await engine.services.image.pullImage({ reference: ref }, { ...ctx, onProgress: (p: Progress) => write(progressMessage(p)) });
    } catch (e) {
      const err = toCongaError(e);
      if (!started) throw err;
      write({ errorDetail: { message: err.message }, error: err.message });
    }
    if (!started) return reply.code(200).type('application/json').send('');
    reply.raw.end();
  });

  app.get<{ Querystring: { all?: string; filters?: string; digests?: string } }>('/images/json', async (req) => {
    const { images } = await engine.services.image.listImages({}, ctxOf(req));
    const byImage = new Map<string, number>();
    for (const c of engine.containers.list(true)) byImage.set(c.ImageID, (byImage.get(c.ImageID) ?? 0) + 1);
    return images.map((img) => imageSummary(img, byImage.get(img.id) ?? 0));
  });

  app.get<{ Params: { '*': string } }>('/images/*', async (req, reply) => {
    const rest = req.params['*'];
    if (!rest.endsWith('/json')) return reply.code(404).send({ message: `page not found: ${req.url}` });
    const img = await engine.services.image.getImage({ reference: rest.slice(0, -5) }, ctxOf(req));
    return imageInspect(img);
  });

  app.delete<{ Params: { '*': string }; Querystring: { force?: string; noprune?: string } }>('/images/*', async (req) => {
    const ref = req.params['*'];
    const res = await engine.services.image.deleteImage(
      { reference: ref, force: boolParam(req.query.force), inUseImageIds: engine.containers.imagesInUse() },
      ctxOf(req),
    );
    return [...res.untagged.map((u) => ({ Untagged: u })), ...res.deleted.map((d) => ({ Deleted: d }))];
  });
}
