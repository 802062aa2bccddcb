import { defaultConfig, layout, serviceNames, type DaemonConfig, type Logger, type Paths, type ServiceName } from '@conga/common';
import { checkHealth, executorProxy, imageProxy, networkProxy, serviceEndpoints, storageProxy, type Endpoint } from '@conga/rpc';
import type { Services } from './services';
import type { PullQueue } from '@conga/queue';

export type Mode = 'all-in-one' | 'split';

export interface Composed {
  services: Services;
  /** Split mode with Redis: the pull queue (for /info and metrics). */
  queue?: PullQueue;
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

/**
 * split: each service is its own process; congad holds gRPC proxies to their unix sockets.
 * With daemon.json "redis" set, pulls go through the bullmq pull queue (image-service workers
 * consume it); without it they are plain gRPC calls to image-service.
 */
export async function composeSplit(paths: Paths, config?: Readonly<DaemonConfig>, log?: Logger): Promise<Composed> {
  // daemon.json "service-addresses"/"service-tls": a bad setup stops congad at start.
  const eps = serviceEndpoints(paths, config ?? defaultConfig);
  const o = { deadlineMs: (config ?? defaultConfig)['service-call-timeout'] * 1000 };
  const imageRpc = imageProxy(eps.image, o);
  const storage = storageProxy(eps.storage, o);
  const network = networkProxy(eps.network, o);
  const executor = executorProxy(eps.executor, o);
  // bullmq/ioredis are loaded only when a Redis queue is configured.
  const q = config?.redis && log ? await import('@conga/queue') : undefined;
  const queue = q && config && log ? new q.PullQueue({ redis: config.redis, log: log.child({ svc: 'pull-queue' }) }) : undefined;
  const image = q && queue ? q.queuedImageService(imageRpc, queue) : imageRpc;
  const services = { image, storage, network, executor };
  splitState.set(services, { eps, queue });
  return {
    services,
    queue,
    async close() {
      await queue?.close();
      for (const p of [imageRpc, storage, network, executor]) p.close();
    },
  };
}

const splitState = new WeakMap<Services, { eps: Record<ServiceName, Endpoint>; queue?: PullQueue }>();

/** Split mode: where each service is reached (metrics and /info); undefined in all-in-one. */
export function splitEndpoints(services: Services): Record<ServiceName, Endpoint> | undefined {
  return splitState.get(services)?.eps;
}

/** One entry of /info's Conga.Services. */
export interface ServiceStatus {
  Name: string;
  Transport: 'in-process' | 'grpc';
  Address: string;
  /** grpc.health.v1 status (SERVING, NOT_SERVING, UNREACHABLE...); in-process: SERVING. */
  Health: string;
}

/** /info's Conga section about the services: transport, health and the pull queue's depth. */
export async function describeServices(services: Services): Promise<{ Services: ServiceStatus[]; PullQueue: Record<string, unknown> | null }> {
  const st = splitState.get(services);
  if (!st) {
    return { Services: serviceNames.map((s) => ({ Name: `${s}-service`, Transport: 'in-process', Address: '', Health: 'SERVING' })), PullQueue: null };
  }
  const list = await Promise.all(
    serviceNames.map(async (s) => {
      const ep = st.eps[s];
      return { Name: `${s}-service`, Transport: 'grpc' as const, Address: ep.display, Health: await checkHealth(s, ep) };
    }),
  );
  let queue: Record<string, unknown> | null = null;
  if (st.queue) {
    try {
      const d = await st.queue.depth();
      queue = { Redis: st.queue.redis, Queue: st.queue.name, Healthy: true, Waiting: d.waiting, Active: d.active, Delayed: d.delayed, Failed: d.failed, Workers: d.workers };
    } catch (e) {
      queue = { Redis: st.queue.redis, Queue: st.queue.name, Healthy: false, Error: (e as Error).message };
    }
  }
  return { Services: list, PullQueue: queue };
}
