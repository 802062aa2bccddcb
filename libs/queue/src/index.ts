/**
 * @conga/queue — split mode's durable pull queue (bullmq on Redis via ioredis): congad enqueues
 * ({@link PullQueue}), image-service processes consume ({@link PullWorker}).
 */
export * from './redis-options';
export * from './pull-job';
export * from './pull-queue';
export * from './pull-worker';
export * from './queued-image-service';
export * from './distributed-locks';
