import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { E, type Logger, type Paths, type ServiceName } from '@conga/common';

/**
 * One Prometheus registry per process, labelled with the process name ("congad",
 * "network-service"...), so that congad can merge every service's metrics into one
 * `GET /metrics` without two processes' series colliding.
 */
export const metricsRegistry = new Registry();
let processLabelSet = false;

/** Name this process in every series and add the standard process/Node metrics. Call once at start. */
export function initProcessMetrics(processName: string): void {
  if (processLabelSet) return;
  processLabelSet = true;
  metricsRegistry.setDefaultLabels({ process: processName });
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'conga_' });
}

const seconds = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];

/** Handled RPCs, per service, method and gRPC status name (server side). */
export const rpcServerDuration = new Histogram({
  name: 'conga_rpc_server_duration_seconds',
  help: 'Time to handle a gRPC call, by service, method and status',
  labelNames: ['service', 'method', 'code'],
  buckets: seconds,
  registers: [metricsRegistry],
});

/** RPCs made to a split service, per service, method and status (client side, in congad). */
export const rpcClientDuration = new Histogram({
  name: 'conga_rpc_client_duration_seconds',
  help: 'Latency of gRPC calls to a split service, by service, method and status',
  labelNames: ['service', 'method', 'code'],
  buckets: seconds,
  registers: [metricsRegistry],
});

/** Health of each split service as last seen (1 = SERVING). */
export const serviceUp = new Gauge({
  name: 'conga_service_up',
  help: 'Whether a split service answered its health check with SERVING (1) or not (0)',
  labelNames: ['service'],
  registers: [metricsRegistry],
});

/** Pulls finished by an image service, by result. */
export const pullsTotal = new Counter({
  name: 'conga_image_pulls_total',
  help: 'Image pulls finished by this process, by result (ok, error)',
  labelNames: ['result'],
  registers: [metricsRegistry],
});

/** Bytes of blobs downloaded by pulls (from progress reports). */
export const pullBytesTotal = new Counter({
  name: 'conga_image_pull_bytes_total',
  help: 'Bytes downloaded from registries by pulls in this process',
  registers: [metricsRegistry],
});

/** The default metrics socket of a split service. */
export const metricsSocket = (paths: Paths, svc: ServiceName) => join(paths.run, 'services', `${svc}-metrics.sock`);

export interface MetricsServer {
  close(): Promise<void>;
}

/**
 * Serve this process's metrics over HTTP: `GET /metrics` (Prometheus text) and
 * `GET /metrics/json` (what congad merges). `listen` is a unix socket path (mode 0660) or
 * "127.0.0.1:PORT" (loopback only: metrics are not authenticated).
 */
export async function serveMetrics(listen: string, log: Logger): Promise<MetricsServer> {
  const tcp = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):(\d{1,5})$/.exec(listen);
  if (!tcp && !listen.startsWith('/')) throw E.InvalidArgument(`--metrics "${listen}": use a unix socket path or 127.0.0.1:PORT (metrics are served on loopback only)`);
  const server: Server = createServer((req, res) => {
    const json = req.url === '/metrics/json';
    if (req.method !== 'GET' || (req.url !== '/metrics' && !json)) {
      res.writeHead(404).end();
      return;
    }
    (json ? metricsRegistry.getMetricsAsJSON().then((m) => JSON.stringify(m)) : metricsRegistry.metrics()).then(
      (body) => res.writeHead(200, { 'content-type': json ? 'application/json' : metricsRegistry.contentType }).end(body),
      (e) => res.writeHead(500).end(String(e)),
    );
  });
  if (!tcp) {
    mkdirSync(dirname(listen), { recursive: true, mode: 0o750 });
    rmSync(listen, { force: true });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (tcp) server.listen(Number(tcp[2]), tcp[1].replace(/^\[|\]$/g, ''), resolve);
    else server.listen(listen, resolve);
  });
  if (!tcp) chmodSync(listen, 0o660);
  log.info({ metrics: listen }, 'serving metrics');
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => (tcp ? undefined : rmSync(listen, { force: true }))),
  };
}

/** Fetch another process's metrics as JSON (unix socket path or host:port); undefined when it does not answer. */
export function fetchMetricsJson(from: string, timeoutMs = 2000): Promise<MetricObjectWithValues<MetricValue<string>>[] | undefined> {
  const [host, port] = from.startsWith('/') ? [] : from.split(/:(?=\d+$)/);
  return new Promise((resolve) => {
    const req = request({ ...(from.startsWith('/') ? { socketPath: from } : { host, port: Number(port) }), path: '/metrics/json', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/**
 * One Prometheus text from several processes' JSON metrics. Series of different processes
 * differ by their `process` label, so summing per label set keeps every series as it was.
 */
export async function mergeMetrics(parts: MetricObjectWithValues<MetricValue<string>>[][]): Promise<string> {
  const all = parts.map((p) => p.map((m) => ({ ...m, aggregator: 'sum' as const })));
  return AggregatorRegistry.aggregate(all).metrics();
}

type PullFn<Req, Ctx, Res> = (req: Req, ctx: Ctx) => Promise<Res>;

/**
 * Count a pull implementation's results and downloaded bytes (per layer, the growth of the
 * "Downloading" position it reports).
 */
export function instrumentPulls<Req, Ctx extends { onProgress?: (p: any) => void }, Res>(pull: PullFn<Req, Ctx, Res>): PullFn<Req, Ctx, Res> {
  return async (req, ctx) => {
    const seen = new Map<string, number>();
    const onProgress = (p: { id?: string; status?: string; current?: number; total?: number }) => {
      if (p?.id && p.status === 'Downloading') {
        const n = Number(p.current) || 0;
        const before = seen.get(p.id) ?? 0;
        if (n > before) {
          pullBytesTotal.inc(n - before);
          seen.set(p.id, n);
        }
      }
      ctx.onProgress?.(p);
    };
    try {
      const r = await pull(req, { ...ctx, onProgress });
      pullsTotal.inc({ result: 'ok' });
      return r;
    } catch (e) {
      pullsTotal.inc({ result: 'error' });
      throw e;
    }
  };
}
