import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createLogger, defaultPaths, loadDaemonConfig, type DaemonConfig, type Logger, type Paths, type ServiceName } from '@conga/common';
import { serveAt, type RpcServer } from './server';
import { serviceEndpoint } from './endpoint';
import { initProcessMetrics, metricsSocket, serveMetrics, type MetricsServer } from './metrics';

/** Flag values of a service process (the common ones plus the service's own). */
export type ServiceFlags = Record<string, string | boolean | undefined>;

export interface ServiceEnv {
  paths: Paths;
  config: Readonly<DaemonConfig>;
  log: Logger;
  /** Every flag given (common and the service's own `options`). */
  flags: ServiceFlags;
}

/** What a service's `make` returns: the implementation, plus what to close on shutdown. */
export type ServiceImpl = object & { close(): Promise<void> };

/** Extra flags and help text of one service process. */
export interface ServiceMainOptions {
  /** parseArgs options added to the common ones. */
  options?: ParseArgsConfig['options'];
  /** Lines added to --help. */
  usage?: string;
  /** False: run without a gRPC server (e.g. an image-service that only consumes pull jobs). */
  serve?: (flags: ServiceFlags) => boolean;
}

/**
 * The whole `main` of a split-mode service process: flags (--root, --run, --config, --socket
 * and the service's own), config, logger, the gRPC server on <run>/services/<svc>.sock, and a
 * clean shutdown on SIGTERM/SIGINT. Containers never depend on this process staying up.
 */
export async function runServiceMain(
  svc: ServiceName,
  make: (env: ServiceEnv) => Promise<ServiceImpl>,
  argv = process.argv.slice(2),
  mainOpts: ServiceMainOptions = {},
): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      root: { type: 'string', default: defaultPaths.root },
      run: { type: 'string', default: defaultPaths.run },
      config: { type: 'string' },
      socket: { type: 'string' },
      metrics: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...mainOpts.options,
    },
    strict: true,
  });
  const flags = values as ServiceFlags;
  if (values.help) {
    process.stdout.write(
      `Usage: conga-${svc}-service [--root DIR] [--run DIR] [--config daemon.json] [--socket ADDRESS] [--metrics LISTEN]\n\n` +
        `Serves conga's ${svc} service over gRPC on daemon.json "service-addresses"."${svc}" (default\n` +
        `unix://<run>/services/${svc}.sock; tcp://HOST:PORT needs "service-tls" for mutual TLS). --socket\n` +
        `overrides the address. Prometheus metrics: GET /metrics on --metrics (a unix socket path or\n` +
        `127.0.0.1:PORT; default <run>/services/${svc}-metrics.sock).\n` +
        (mainOpts.usage ? `\n${mainOpts.usage}\n` : ''),
    );
    return;
  }
  const paths: Paths = { root: String(values.root), run: String(values.run) };
  const config = loadDaemonConfig(values.config as string | undefined);
  const log = createLogger(`${svc}-service`, config['log-level']);
  const serving = mainOpts.serve?.(flags) ?? true;
  // A bad address or unreadable TLS files stop the process before anything starts.
  const ep = serving ? serviceEndpoint(svc, paths, config, values.socket as string | undefined) : undefined;
  initProcessMetrics(`${svc}-service`);
  const impl = await make({ paths, config, log, flags });
  let server: RpcServer | undefined;
  let metrics: MetricsServer | undefined;
  try {
    if (ep) {
      server = await serveAt(ep, { [svc]: impl }, log, { group: config.group });
      log.info({ address: ep.display, tls: Boolean(ep.tls) }, `${svc} service listening`);
    }
    // Queue-only workers share the host: their metrics need an explicit --metrics.
    const listen = (values.metrics as string | undefined) ?? (ep ? metricsSocket(paths, svc) : undefined);
    if (listen) metrics = await serveMetrics(listen, log);
  } catch (e) {
    await server?.close();
    await impl.close();
    throw e;
  }
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, 'shutting down');
    await server?.close();
    await metrics?.close();
    await impl.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

/** Print a startup failure as one clear line and exit 1. */
export function exitOnError(e: unknown): never {
  process.stderr.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
  process.exit(1);
}
