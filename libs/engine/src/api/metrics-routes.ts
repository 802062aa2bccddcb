import type { FastifyInstance } from 'fastify';
import { Counter, Gauge } from 'prom-client';
import type { ServiceName } from '@conga/common';
import { fetchMetricsJson, initProcessMetrics, mergeMetrics, metricsRegistry, metricsSocket, serviceUp } from '@conga/rpc';
import type { Engine } from '../engine';
import { describeServices, splitEndpoints } from '../compose';

const apiRequests = new Counter({
  name: 'conga_api_requests_total',
  help: 'Engine API requests answered, by method, route and HTTP status',
  labelNames: ['method', 'route', 'status'],
  registers: [metricsRegistry],
});

const containersByState = new Gauge({
  name: 'conga_containers',
  help: 'Containers known to the engine, by state (created, running, paused, exited...)',
  labelNames: ['state'],
  registers: [metricsRegistry],
});

const queueJobs = new Gauge({
  name: 'conga_pull_queue_jobs',
  help: 'Jobs in the split-mode pull queue, by state',
  labelNames: ['state'],
  registers: [metricsRegistry],
});

const queueWorkers = new Gauge({
  name: 'conga_pull_queue_workers',
  help: 'Image-service workers connected to the pull queue',
  registers: [metricsRegistry],
});

/**
 * `GET /metrics` (Prometheus text): congad's own metrics — API requests per route, RPC latency
 * per method, containers by state, service health, pull queue jobs and workers — merged with
 * every split service's (read from `<run>/services/<svc>-metrics.sock`). A service that does
 * not answer is left out and shows as conga_service_up 0.
 */
export function registerMetricsRoutes(app: FastifyInstance, engine: Engine): void {
  initProcessMetrics('congad');
  app.addHook('onResponse', async (req, reply) => {
    // The route's pattern (not the URL) keeps the label set small; unknown paths share one label.
    apiRequests.inc({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });
  app.get('/metrics', async (_req, reply) => {
    containersByState.reset();
    for (const c of engine.containers.list(true)) containersByState.inc({ state: c.State.Status });
    const { Services, PullQueue } = await describeServices(engine.services);
    for (const s of Services) serviceUp.set({ service: s.Name.replace(/-service$/, '') }, s.Health === 'SERVING' ? 1 : 0);
    queueJobs.reset();
    queueWorkers.reset();
    if (PullQueue && PullQueue.Healthy) {
      for (const state of ['Waiting', 'Active', 'Delayed', 'Failed']) queueJobs.set({ state: state.toLowerCase() }, Number(PullQueue[state]) || 0);
      queueWorkers.set(Number(PullQueue.Workers) || 0);
    }
    const eps = splitEndpoints(engine.services);
    const remote = eps ? await Promise.all((Object.keys(eps) as ServiceName[]).map((s) => fetchMetricsJson(metricsSocket(engine.paths, s)))) : [];
    const own = await metricsRegistry.getMetricsAsJSON();
    const text = await mergeMetrics([own, ...remote.filter((r) => r !== undefined)]);
    void reply.header('content-type', metricsRegistry.contentType).send(text);
  });
}
