import { parseArgs } from 'node:util';
import { createLogger, defaultPaths, layout, loadDaemonConfig, newContext } from '@conga/common';
import { Engine, createApiServer, listenUnix, CONGA_VERSION, type Mode } from '@conga/engine';
import { openPodStore, startCri } from '@conga/cri';

const USAGE = `Usage: congad [OPTIONS]

The Conga engine: serves the Docker Engine API on <run>/conga.sock and the Kubernetes CRI
on <run>/cri.sock (daemon.json "cri": {"enabled": false} turns it off).

Options:
      --root DIR            persistent state (default ${defaultPaths.root})
      --run DIR             runtime state and sockets (default ${defaultPaths.run})
      --mode MODE           all-in-one (default): the four services in this process;
                            split: talk to image/storage/network/executor services over gRPC
                            (start them first: see deploy/)
      --config FILE         daemon.json (default /etc/conga/daemon.json when it exists)
      --default-network N   network for containers that ask for the default (default "conga0":
                            a bridge with NAT; "none" gives loopback only)
  -v, --version             print the version
  -h, --help                print this help
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      root: { type: 'string', default: defaultPaths.root },
      run: { type: 'string', default: defaultPaths.run },
      mode: { type: 'string', default: 'all-in-one' },
      config: { type: 'string' },
      'default-network': { type: 'string' },
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return void process.stdout.write(USAGE);
  if (values.version) return void process.stdout.write(`congad version ${CONGA_VERSION}\n`);
  if (values.mode !== 'all-in-one' && values.mode !== 'split') throw new Error(`--mode must be all-in-one or split, not "${values.mode}"`);
  const config = loadDaemonConfig(values.config);
  const log = createLogger('congad', config['log-level']);
  const paths = { root: values.root!, run: values.run! };
  const criOn = config.cri.enabled !== false;
  // Opened before the engine so that its first orphan reaping spares the pods' networks.
  const pods = criOn ? openPodStore(paths) : undefined;
  const defaultNetwork = values['default-network'] ?? 'conga0';
  const engine = await Engine.open({ mode: values.mode as Mode, paths, config, log, defaultNetwork, resourceOwners: pods ? [(id) => pods.has(id)] : [] });
  const app = await createApiServer(engine, log);
  const socket = layout.engineSocket(paths);
  await listenUnix(app, socket, config.group);
  const cri = pods ? await startCri(engine, { paths, config, store: pods, log, defaultNetwork }) : undefined;
  log.info({ socket, mode: values.mode, root: paths.root, cri: cri?.socketPath ?? 'off' }, 'congad listening');
  const stop = async (sig: string) => {
    log.info({ sig }, 'shutting down; containers keep running');
    await cri?.close();
    await app.close();
    await engine.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  void newContext;
}

main().catch((e) => {
  process.stderr.write(`congad: ${(e as Error)?.message ?? String(e)}\n`);
  process.exit(1);
});
