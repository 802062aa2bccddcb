import { E, layout } from '@conga/common';
import { exitOnError, instrumentPulls, runServiceMain, serviceEndpoint, storageProxy } from '@conga/rpc';
import { createImageService } from '@conga/image';
// @conga/queue is imported by path until `npm install` links the new workspace.
import { DistributedLocks, PullWorker } from '@conga/queue';

const USAGE = `Pull queue (split mode, when daemon.json "redis" is set):
      --workers N           pulls this process runs at once from the queue (default 1; 0: none)
      --queue-only          only consume pull jobs: no gRPC socket (run several of these
                            next to the one image-service that serves <run>/services/image.sock)
      --lock-duration MS    a dead worker's job goes to another worker after about MS plus
                            MS/2 (default 10000)`;

function intFlag(name: string, v: unknown, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw E.InvalidArgument(`--${name} must be an integer >= ${min}, not "${String(v)}"`);
  return n;
}

// image-service: registry client, content store and image metadata (split mode). It unpacks
// layers through the storage service over gRPC and, with Redis configured, consumes pull jobs.
runServiceMain(
  'image',
  async ({ paths, config, log, flags }) => {
    const workers = intFlag('workers', flags.workers, 1, 0);
    const lockDurationMs = intFlag('lock-duration', flags['lock-duration'], 10_000, 1000);
    if (flags['queue-only'] && (!config.redis || workers === 0)) {
      throw E.InvalidArgument('--queue-only needs daemon.json "redis" and --workers of 1 or more');
    }
    const storage = storageProxy(serviceEndpoint('storage', paths, config), { deadlineMs: config['service-call-timeout'] * 1000 });
    // With Redis, several image-service processes share the content store: lock blobs across them
    // so that each blob is fetched once.
    const locks = config.redis ? new DistributedLocks({ redis: config.redis, log, ttlMs: lockDurationMs }) : undefined;
    const local = await createImageService({ dir: layout.imageDir(paths), storage, config, log, locks });
    // Pulls served over gRPC and pulls taken from the queue are counted alike (metrics).
    const svc = { ...local, pullImage: instrumentPulls(local.pullImage.bind(local)) };
    let worker: PullWorker | undefined;
    if (config.redis && workers > 0) {
      worker = new PullWorker({
        redis: config.redis,
        log,
        concurrency: workers,
        lockDurationMs,
        stalledIntervalMs: Math.max(500, Math.floor(lockDurationMs / 2)),
        pull: async (data, ctx) => (await svc.pullImage({ reference: data.reference, platform: data.platform }, ctx)).id,
      });
      log.info({ workers, queueOnly: Boolean(flags['queue-only']) }, 'consuming the pull queue');
    }
    return {
      ...svc,
      async close() {
        await worker?.close();
        await svc.close();
        locks?.close();
        storage.close();
      },
    };
  },
  process.argv.slice(2),
  {
    options: { workers: { type: 'string' }, 'queue-only': { type: 'boolean' }, 'lock-duration': { type: 'string' } },
    usage: USAGE,
    serve: (flags) => !flags['queue-only'],
  },
).catch(exitOnError);
