import { join } from 'node:path';
import { layout, newContext, type DaemonConfig, type Logger, type Paths } from '@conga/common';
import type { Engine } from '@conga/engine';
import { ContainerService } from './container-service';
import { CriImageService } from './image-service';
import { PodService } from './pod-service';
import { PodStore } from './pod-store';
import { RuntimeService } from './runtime-service';
import { RuncSandboxer } from './sandbox/runc-sandboxer';
import type { Sandboxer } from './sandbox/sandboxer';
import { EngineStreamBackend, StreamingServer } from './streaming';
import { serveCri } from './transport/cri-server';

/** The CRI state directory (<root>/cri: pods.db). */
export const criDir = (paths: Paths): string => join(paths.root, 'cri');

/**
 * Open the pod store before the engine: the engine's orphan reaper must know pod ids (their
 * network attachments are keyed by pod id) from its very first pass.
 */
export function openPodStore(paths: Paths): PodStore {
  return new PodStore(criDir(paths));
}

export interface CriOptions {
  paths: Paths;
  config: Readonly<DaemonConfig>;
  store: PodStore;
  log: Logger;
  /** The engine's default network (pods join it unless daemon.json cri.network says otherwise). */
  defaultNetwork: string;
}

/**
 * Start the CRI front-end on an open Engine: RuntimeService and ImageService on
 * <run>/cri.sock (or daemon.json cri.socket) and the streaming server for Exec/Attach/PortForward.
 */
export async function startCri(engine: Engine, opts: CriOptions): Promise<{ socketPath: string; close(): Promise<void> }> {
  const cri = opts.config.cri ?? {};
  const log = opts.log.child({ component: 'cri' });
  const ctx = newContext(log);
  const runc = new RuncSandboxer({
    podsDir: join(opts.paths.run, 'cri', 'pods'),
    network: engine.services.network,
    networkName: cri.network ?? opts.defaultNetwork,
    cgroupRoot: opts.config['cgroup-parent'],
  });
  const sandboxers = new Map<string, Sandboxer>([['', runc], ['runc', runc]]);
  for (const [handler, h] of Object.entries(cri['runtime-handlers'] ?? {})) if (h.sandboxer === 'runc') sandboxers.set(handler, runc);
  const pods = new PodService({ store: opts.store, engine, sandboxers, cgroupRoot: opts.config['cgroup-parent'] });
  pods.recover(ctx);
  const streaming = new StreamingServer(
    new EngineStreamBackend(engine, { netnsOf: (id) => pods.getPod(id).netnsPath, log }),
    { addr: cri['streaming-address'] ?? '127.0.0.1', port: cri['streaming-port'] ?? 0, log },
  );
  await streaming.start();
  const containers = new ContainerService({ engine, pods, streaming });
  const runtime = new RuntimeService(pods, containers, {
    version: engine.version,
    cgroupDriver: 'CGROUPFS',
    networkReady: async () => {
      try {
        await engine.services.network.getNetwork({ nameOrId: cri.network ?? opts.defaultNetwork }, ctx);
        return { ready: true, reason: '', message: '' };
      } catch (e) {
        return { ready: false, reason: 'NetworkPluginNotReady', message: (e as Error).message };
      }
    },
  });
  const images = new CriImageService(engine.services.image, () => engine.containers.imagesInUse(), [layout.imageDir(opts.paths), layout.storageDir(opts.paths)]);
  const socketPath = cri.socket ?? layout.criSocket(opts.paths);
  let server;
  try {
    server = await serveCri(socketPath, runtime.handlers(), images.handlers(), log, { group: opts.config.group });
  } catch (e) {
    await streaming.close();
    throw e;
  }
  log.info({ socket: socketPath, streaming: streaming.url() }, 'CRI listening');
  return {
    socketPath,
    async close() {
      await server.close();
      await streaming.close();
      opts.store.close();
    },
  };
}
