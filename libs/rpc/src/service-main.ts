import { parseArgs } from 'node:util';
import { createLogger, defaultPaths, layout, loadDaemonConfig, type DaemonConfig, type Logger, type Paths, type ServiceName } from '@conga/common';
import { serveUnix } from './server';

export interface ServiceEnv {
  paths: Paths;
  config: Readonly<DaemonConfig>;
  log: Logger;
}

/**
 * The whole `main` of a split-mode service process: flags (--root, --run, --config, --socket),
 * config, logger, the gRPC server on <run>/services/<svc>.sock, and a clean shutdown on
 * SIGTERM/SIGINT. Containers never depend on this process staying up.
 */
export async function runServiceMain(
  svc: ServiceName,
  make: (env: ServiceEnv) => Promise<object & { close(): Promise<void> }>,
  argv = process.argv.slice(2),
): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      root: { type: 'string', default: defaultPaths.root },
      run: { type: 'string', default: defaultPaths.run },
      config: { type: 'string' },
      socket: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`Usage: ${svc}-service [--root DIR] [--run DIR] [--config daemon.json] [--socket PATH]\n\nServes conga's ${svc} service over gRPC on a unix socket (default <run>/services/${svc}.sock).\n`);
    return;
  }
  const paths: Paths = { root: values.root!, run: values.run! };
  const config = loadDaemonConfig(values.config);
  const log = createLogger(`${svc}-service`, config['log-level']);
  const impl = await make({ paths, config, log });
  const socket = values.socket ?? layout.serviceSocket(paths, svc);
  const server = await serveUnix(socket, { [svc]: impl }, log);
  log.info({ socket }, `${svc} service listening`);
  const stop = async (sig: string) => {
    log.info({ sig }, 'shutting down');
    await server.close();
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
