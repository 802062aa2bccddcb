import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createLogger, defaultPaths, layout, loadDaemonConfig, type DaemonConfig, type Logger, type Paths, type ServiceName } from '@conga/common';
import { serveUnix, type RpcServer } from './server';

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
      help: { type: 'boolean', short: 'h' },
      ...mainOpts.options,
    },
    strict: true,
  });
  const flags = values as ServiceFlags;
  if (values.help) {
    process.stdout.write(
      `Usage: conga-${svc}-service [--root DIR] [--run DIR] [--config daemon.json] [--socket PATH]\n\n` +
        `Serves conga's ${svc} service over gRPC on a unix socket (default <run>/services/${svc}.sock).\n` +
        (mainOpts.usage ? `\n${mainOpts.usage}\n` : ''),
    );
    return;
  }
  const paths: Paths = { root: String(values.root), run: String(values.run) };
  const config = loadDaemonConfig(values.config as string | undefined);
  const log = createLogger(`${svc}-service`, config['log-level']);
  const impl = await make({ paths, config, log, flags });
  let server: RpcServer | undefined;
  if (mainOpts.serve?.(flags) ?? true) {
    const socket = (values.socket as string | undefined) ?? layout.serviceSocket(paths, svc);
    server = await serveUnix(socket, { [svc]: impl }, log, { group: config.group });
    log.info({ socket }, `${svc} service listening`);
  }
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, 'shutting down');
    await server?.close();
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
