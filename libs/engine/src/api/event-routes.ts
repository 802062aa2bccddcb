import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine';
import { checkEventFilters, eventMatches, parseEventTime, type EngineEvent, type EventFilters } from '../events';
import { clientGone } from './server';
import { parseFilters } from './filters';

/**
 * GET /events: past events from `since` (the engine keeps the last few thousand in memory),
 * then live ones until `until` or until the client goes away; JSON lines like dockerd.
 */
export function registerEventRoutes(app: FastifyInstance, engine: Engine): void {
  app.get<{ Querystring: { since?: string; until?: string; filters?: string } }>('/events', async (req, reply) => {
    const f: EventFilters = parseFilters(req.query.filters);
    checkEventFilters(f);
    const now = Date.now();
    const since = parseEventTime(req.query.since, now);
    const until = parseEventTime(req.query.until, now);
    const log = engine.containers.events;
    const signal = clientGone(req);
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/json', 'Api-Version': '1.41' });
    reply.raw.flushHeaders();
    const write = (e: EngineEvent) => reply.raw.write(JSON.stringify(e) + '\n');
    if (since !== undefined) for (const e of log.past(f, since, until)) write(e);
    const nowNano = Date.now() * 1e6;
    if (until !== undefined && until <= nowNano) return void reply.raw.end();
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        log.off('event', onEvent);
        if (timer) clearTimeout(timer);
        resolve();
      };
      const onEvent = (e: EngineEvent) => {
        if (until !== undefined && e.timeNano > until) return done();
        if (eventMatches(e, f)) write(e);
      };
      log.on('event', onEvent);
      if (until !== undefined) timer = setTimeout(done, Math.max(0, until / 1e6 - Date.now()));
      signal.addEventListener('abort', done, { once: true });
    });
    reply.raw.end();
  });
}
