import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { E } from '@conga/common';
import type { Engine } from '../engine';
import type { CreateContainerBody } from '../containers';
import type { ContainerRecord } from '../container-types';
import { frame, type LogRecord } from '../logs';
import { boolParam, clientGone, ctxOf } from './server';
import { containerInspect, containerSummary } from './docker-format';

type IdParams = { Params: { id: string } };

function parseFilters(raw: string | undefined): Record<string, string[]> {
  if (!raw) return {};
  let f: unknown;
  try {
    f = JSON.parse(raw);
  } catch {
    throw E.InvalidArgument(`invalid filters: ${raw}`);
  }
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
    // Both {"status":["running"]} and the older {"status":{"running":true}} forms.
    out[k] = Array.isArray(v) ? v.map(String) : Object.keys(v as object);
  }
  return out;
}

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

  app.get<{ Querystring: { all?: string; limit?: string; filters?: string } }>('/containers/json', async (req) => {
    const f = parseFilters(req.query.filters);
    let list = ctrs.list(boolParam(req.query.all) || !!f.status?.length).filter((c) => matches(c, f));
    const limit = Number(req.query.limit ?? -1);
    if (limit > 0) list = list.slice(0, limit);
    return list.map(containerSummary);
  });

  app.get<IdParams>('/containers/:id/json', async (req) => {
    const c = ctrs.get(req.params.id);
    return containerInspect(c, ctrs.logPath(c.Id));
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
    // Resolve the container (404) before committing to a streamed 200, as dockerd does.
    ctrs.get(req.params.id);
    const res = await ctrs.wait(req.params.id, req.query.condition, signal);
    return reply.code(200).send({ StatusCode: res.StatusCode, Error: null });
  });

  app.delete<IdParams & { Querystring: { force?: string; v?: string } }>('/containers/:id', async (req, reply) => {
    await ctrs.remove(req.params.id, { force: boolParam(req.query.force) }, ctxOf(req));
    return reply.code(204).send();
  });

  app.get<IdParams & { Querystring: Record<string, string | undefined> }>('/containers/:id/logs', async (req, reply) => {
    const q = req.query;
    const c = ctrs.get(req.params.id);
    const stdout = boolParam(q.stdout);
    const stderr = boolParam(q.stderr);
    if (!stdout && !stderr) throw E.InvalidArgument('you must choose at least one stream: stdout or stderr');
    const tail = q.tail === undefined || q.tail === 'all' ? undefined : Number(q.tail);
    if (tail !== undefined && !Number.isInteger(tail)) throw E.InvalidArgument(`invalid tail: ${q.tail}`);
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
