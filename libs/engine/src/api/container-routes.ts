import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { E } from '@conga/common';
import type { Engine } from '../engine';
import type { CreateContainerBody } from '../containers';
import type { ContainerRecord } from '../container-types';
import { frame, type LogRecord } from '../logs';
import { boolParam, clientGone, ctxOf } from './server';
import { containerInspect, containerSummary } from './docker-format';
import { parseFilters } from './filters';
import { containerSizes } from './container-size';
import { dockerStats } from './stats-format';
import type { UpdateBody } from '../containers';
import type { TaskStats } from '@conga/api';

type IdParams = { Params: { id: string } };


function matches(c: ContainerRecord, f: Record<string, string[]>): boolean {
  for (const [k, vals] of Object.entries(f)) {
    if (vals.length === 0) continue;
    const ok = vals.some((v) => {
      switch (k) {
        case 'status':
          return c.State.Status === v;
        case 'name':
          return new RegExp(v).test(c.Name);
        case 'id':
          return c.Id.startsWith(v);
        case 'label': {
          const [lk, lv] = v.split('=', 2);
          const labels = c.Config.Labels ?? {};
          return lv === undefined ? lk in labels : labels[lk] === lv;
        }
        case 'ancestor':
          return c.Image === v || c.ImageID === v || c.ImageID.startsWith(`sha256:${v}`);
        case 'exited':
          return c.State.Status === 'exited' && String(c.State.ExitCode) === v;
        case 'before':
        case 'since':
          return true; // applied on the list (they need the other container)
        case 'volume':
          return (c.HostConfig.Binds ?? []).some((b) => b.split(':')[0] === v || b.split(':')[1] === v) || (c.HostConfig.Mounts ?? []).some((m) => m.Source === v || m.Target === v);
        case 'network':
          return (c.HostConfig.NetworkMode || 'default') === v;
        case 'health':
          return (c.State.Health?.Status ?? 'none') === v;
        case 'isolation':
          return v === 'default';
        case 'is-task':
          return v === 'false';
        case 'publish':
        case 'expose':
          return Object.keys(c.HostConfig.PortBindings ?? {}).some((p) => p === v || p.split('/')[0] === v);
        default:
          throw E.InvalidArgument(`invalid filter '${k}'`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

/** Stream records as docker's multiplexed frames (or raw bytes for a TTY container). */
function streamRecords(req: FastifyRequest, reply: FastifyReply, tty: boolean, run: (emit: (r: LogRecord) => void, signal: AbortSignal) => Promise<void>) {
  const signal = clientGone(req);
  reply.hijack();
  reply.raw.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream', 'Api-Version': '1.41' });
  // Send the headers now: a client attaching before start waits for them to know it is attached.
  reply.raw.flushHeaders();
  return run((r) => {
    const payload = Buffer.from(r.data, 'utf8');
    reply.raw.write(tty ? payload : frame(r.stream, payload));
  }, signal).then(
    () => reply.raw.end(),
    (e) => {
      req.log.warn({ err: e }, 'log stream failed');
      reply.raw.destroy();
    },
  );
}

/** Container endpoints for the foundation slice. */
export function registerContainerRoutes(app: FastifyInstance, engine: Engine): void {
  const ctrs = engine.containers;

  app.post<{ Querystring: { name?: string }; Body: CreateContainerBody }>('/containers/create', async (req, reply) => {
    const res = await ctrs.create(req.body, req.query.name, ctxOf(req));
    return reply.code(201).send(res);
  });

  app.get<{ Querystring: { all?: string; limit?: string; filters?: string; size?: string } }>('/containers/json', async (req) => {
    const f = parseFilters(req.query.filters);
    let list = ctrs.list(boolParam(req.query.all) || !!f.status?.length || !!f.exited?.length).filter((c) => matches(c, f));
    // before/since: containers created before/after the named one (list is newest first).
    for (const k of ['before', 'since'] as const) {
      for (const ref of f[k] ?? []) {
        const other = ctrs.get(ref);
        list = list.filter((c) => (k === 'before' ? c.Created < other.Created : c.Created > other.Created));
      }
    }
    const limit = Number(req.query.limit ?? -1);
    if (limit > 0) list = list.slice(0, limit);
    if (!boolParam(req.query.size)) return list.map(containerSummary);
    const sizes = await containerSizes(engine, ctxOf(req));
    return list.map((c) => ({ ...containerSummary(c), ...sizes.get(c.Id) }));
  });

  app.get<IdParams & { Querystring: { size?: string } }>('/containers/:id/json', async (req) => {
    const c = ctrs.get(req.params.id);
    if (!boolParam(req.query.size)) return containerInspect(c, ctrs.logPath(c.Id));
    return { ...containerInspect(c, ctrs.logPath(c.Id)), ...(await containerSizes(engine, ctxOf(req))).get(c.Id) };
  });

  app.post<IdParams>('/containers/:id/start', async (req, reply) => {
    const started = await ctrs.start(req.params.id, ctxOf(req));
    return reply.code(started ? 204 : 304).send();
  });

  app.post<IdParams & { Querystring: { t?: string } }>('/containers/:id/stop', async (req, reply) => {
    const t = req.query.t !== undefined ? Number(req.query.t) : undefined;
    if (t !== undefined && !Number.isFinite(t)) throw E.InvalidArgument(`invalid stop timeout: ${req.query.t}`);
    const stopped = await ctrs.stop(req.params.id, t, ctxOf(req));
    return reply.code(stopped ? 204 : 304).send();
  });

  app.post<IdParams & { Querystring: { signal?: string } }>('/containers/:id/kill', async (req, reply) => {
    await ctrs.kill(req.params.id, req.query.signal, ctxOf(req));
    return reply.code(204).send();
  });

  app.post<IdParams & { Querystring: { condition?: string } }>('/containers/:id/wait', async (req, reply) => {
    const signal = clientGone(req);
    // Resolve the container (404) and the condition (400) before committing to a 200.
    ctrs.get(req.params.id);
    const cond = req.query.condition || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw E.InvalidArgument(`invalid condition: "${cond}": use not-running, next-exit or removed`);
    // Like dockerd, send the headers at once and the body when the condition is met: the docker
    // CLI asks for the wait before it starts or attaches and waits for these headers.
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/json', 'Api-Version': '1.41' });
    reply.raw.flushHeaders();
    try {
      const res = await ctrs.wait(req.params.id, cond, signal);
      reply.raw.end(JSON.stringify({ StatusCode: res.StatusCode, Error: null }) + '\n');
    } catch (e) {
      if (signal.aborted) return void reply.raw.destroy();
      reply.raw.end(JSON.stringify({ StatusCode: -1, Error: { Message: (e as Error).message } }) + '\n');
    }
  });

  app.post<IdParams & { Querystring: { t?: string } }>('/containers/:id/restart', async (req, reply) => {
    const t = req.query.t !== undefined ? Number(req.query.t) : undefined;
    if (t !== undefined && !Number.isFinite(t)) throw E.InvalidArgument(`invalid restart timeout: ${req.query.t}`);
    await ctrs.restart(req.params.id, t, ctxOf(req));
    return reply.code(204).send();
  });

  app.post<IdParams>('/containers/:id/pause', async (req, reply) => {
    await ctrs.pause(req.params.id, ctxOf(req));
    return reply.code(204).send();
  });

  app.post<IdParams>('/containers/:id/unpause', async (req, reply) => {
    await ctrs.unpause(req.params.id, ctxOf(req));
    return reply.code(204).send();
  });

  app.post<IdParams & { Querystring: { name?: string } }>('/containers/:id/rename', async (req, reply) => {
    await ctrs.rename(req.params.id, req.query.name ?? '', ctxOf(req));
    return reply.code(204).send();
  });

  app.post<IdParams & { Body: UpdateBody }>('/containers/:id/update', async (req) => ctrs.update(req.params.id, req.body, ctxOf(req)));

  app.get<IdParams & { Querystring: { ps_args?: string } }>('/containers/:id/top', async (req) => ctrs.top(req.params.id, req.query.ps_args, ctxOf(req)));

  app.post<{ Querystring: { filters?: string } }>('/containers/prune', async (req) => ctrs.prune(parseFilters(req.query.filters), ctxOf(req)));

  // Stats: one sample pair (stream=0; one-shot=1 skips the second sample) or one per second.
  app.get<IdParams & { Querystring: { stream?: string; 'one-shot'?: string } }>('/containers/:id/stats', async (req, reply) => {
    const ctx = ctxOf(req);
    const stream = req.query.stream === undefined ? true : boolParam(req.query.stream);
    const first = await ctrs.stats(req.params.id, ctx);
    const c = first.c;
    if (!stream) {
      let pre: TaskStats | undefined;
      let cur = first.s;
      if (!boolParam(req.query['one-shot']) && cur) {
        await new Promise((r) => setTimeout(r, 1000));
        pre = cur;
        cur = (await ctrs.stats(c.Id, ctx)).s ?? cur;
      }
      return dockerStats(c, cur, pre);
    }
    const signal = clientGone(req);
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/json', 'Api-Version': '1.41' });
    let pre: TaskStats | undefined;
    let cur = first.s;
    while (!signal.aborted) {
      reply.raw.write(JSON.stringify(dockerStats(c, cur, pre)) + '\n');
      await new Promise((r) => setTimeout(r, 1000));
      if (signal.aborted) break;
      pre = cur;
      try {
        cur = (await ctrs.stats(c.Id, ctx)).s;
      } catch {
        break; // removed
      }
    }
    reply.raw.end();
  });

  app.delete<IdParams & { Querystring: { force?: string; v?: string } }>('/containers/:id', async (req, reply) => {
    await ctrs.remove(req.params.id, { force: boolParam(req.query.force) }, ctxOf(req));
    return reply.code(204).send();
  });

  // docker cp, export and diff: archive-routes.ts.

  app.get<IdParams & { Querystring: Record<string, string | undefined> }>('/containers/:id/logs', async (req, reply) => {
    const q = req.query;
    const c = ctrs.get(req.params.id);
    const stdout = boolParam(q.stdout);
    const stderr = boolParam(q.stderr);
    if (!stdout && !stderr) throw E.InvalidArgument('you must choose at least one stream: stdout or stderr');
    let tail = q.tail === undefined || q.tail === 'all' || q.tail === '' ? undefined : Number(q.tail);
    if (tail !== undefined && !Number.isInteger(tail)) throw E.InvalidArgument(`invalid tail: ${q.tail}`);
    // dockerd: a negative tail (testcontainers sends -1) means every line.
    if (tail !== undefined && tail < 0) tail = undefined;
    const timestamps = boolParam(q.timestamps);
    await streamRecords(req, reply, !!c.Config.Tty, (emit, signal) =>
      ctrs.logs(
        c.Id,
        { stdout, stderr, follow: boolParam(q.follow), tail, since: Number(q.since ?? 0) || 0, until: Number(q.until ?? 0) || 0, signal },
        timestamps ? (r) => emit({ ...r, data: `${r.time} ${r.data}` }) : emit,
      ),
    );
  });

  // Attach (output only in this slice): streams what the container writes from its start until
  // it stops. Clients attach before start, as `docker run` does, so no output is lost.
  app.post<IdParams & { Querystring: Record<string, string | undefined> }>('/containers/:id/attach', async (req, reply) => {
    const c = ctrs.get(req.params.id);
    const q = req.query;
    if (!boolParam(q.stream)) return reply.code(200).send();
    await streamRecords(req, reply, !!c.Config.Tty, (emit, signal) => ctrs.attach(c.Id, { stdout: boolParam(q.stdout), stderr: boolParam(q.stderr), signal }, emit));
  });
}
