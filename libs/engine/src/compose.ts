import { layout, type DaemonConfig, type Logger, type Paths } from '@conga/common';
import { executorProxy, imageProxy, networkProxy, storageProxy } from '@conga/rpc';
import type { Services } from './services';

export type Mode = 'all-in-one' | 'split';

export interface Composed {
  services: Services;
  close(): Promise<void>;
}

/**
 * all-in-one: the four libs in this process, no gRPC hop (the edge/"light" deployment).
 * The image service unpacks through the in-process storage service.
 */
export async function composeLocal(paths: Paths, config: Readonly<DaemonConfig>, log: Logger): Promise<Composed> {
  const { createStorageService } = await import('@conga/storage');
  const { createImageService } = await import('@conga/image');
  const { createNetworkService } = await import('@conga/network');
  const { createExecutorService } = await import('@conga/executor');
  const storage = await createStorageService({ dir: layout.storageDir(paths), log: log.child({ svc: 'storage' }) });
  const image = await createImageService({ dir: layout.imageDir(paths), storage, config, log: log.child({ svc: 'image' }) });
  const network = await createNetworkService({
    dir: layout.networkDir(paths),
    runDir: layout.networkRunDir(paths),
    cniBinDir: config['cni-bin-dir'],
    defaultNetwork: { bridge: config.bridge, subnet: config['fixed-cidr'] },
    log: log.child({ svc: 'network' }),
  });
  const runtime = config.runtimes[config['default-runtime']]?.path ?? 'runc';
  const executor = await createExecutorService({
    runDir: layout.executorRunDir(paths),
    runtime,
    conmon: config.conmon,
    cgroupParent: config['cgroup-parent'],
    log: log.child({ svc: 'executor' }),
  });
  return {
    services: { storage, image, network, executor },
    async close() {
      await Promise.allSettled([image.close(), network.close(), executor.close()]);
      await storage.close();
    },
  };
}

/** split: each service is its own process; congad holds gRPC proxies to their unix sockets. */
export function composeSplit(paths: Paths): Composed {
  const image = imageProxy(layout.serviceSocket(paths, 'image'));
  const storage = storageProxy(layout.serviceSocket(paths, 'storage'));
  const network = networkProxy(layout.serviceSocket(paths, 'network'));
  const executor = executorProxy(layout.serviceSocket(paths, 'executor'));
  return {
    services: { image, storage, network, executor },
    async close() {
      for (const p of [image, storage, network, executor]) p.close();
    },
  };
}
