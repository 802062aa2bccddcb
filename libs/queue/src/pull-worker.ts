import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { newContext, toCongaError, type CallContext, type Logger } from '@conga/common';
import { encodeFailure, isPermanent, PULL_QUEUE, type PullJobData, type PullJobResult } from './pull-job';
import { redisDisplay, redisOptions } from './redis-options';

/** Options of {@link PullWorker}. */
export interface PullWorkerOptions {
  /** daemon.json "redis". */
  redis: string;
  log: Logger;
  /** Runs one pull in this process (the image service's pullImage); resolves to the image id. */
  pull(data: PullJobData, ctx: CallContext): Promise<string>;
  /** Pulls this process runs at once (image-service --workers N; default 1). */
  concurrency?: number;
  queueName?: string;
  /**
   * How long a job's lock lasts without renewal (default 10 s). A worker that dies (SIGKILL)
   * loses its jobs to another worker after at most lockDuration + stalledInterval.
   */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default 5 s). */
  stalledIntervalMs?: number;
  /** Times a job may stall (its worker died) before it fails (default 3). */
  maxStalledCount?: number;
  /** Global rate limit of pull jobs started: at most `max` per `durationMs` (default none). */
  limiter?: { max: number; durationMs: number };
}

/**
 * The consumer side of the pull queue (image-service in split mode): takes pull jobs from
 * Redis and runs them with the local image service, relaying every progress event to the
 * job (bullmq progress events reach every waiting congad). Failures keep their catalog code;
 * errors a retry cannot fix fail at once, the others are retried with backoff. A job whose
 * worker died is taken over by another worker; blobs already in the content store are not
 * fetched again. close() is idempotent and lets running pulls finish.
 */
export class PullWorker {
  private readonly worker: Worker<PullJobData, PullJobResult>;
  private closing: Promise<void> | undefined;
  /** Pulls finished by this process (metrics). */
  completed = 0;
  failed = 0;

  constructor(private readonly opts: PullWorkerOptions) {
    const log = opts.log;
    this.worker = new Worker<PullJobData, PullJobResult>(opts.queueName ?? PULL_QUEUE, (job) => this.process(job), {
      connection: redisOptions(opts.redis),
      concurrency: opts.concurrency ?? 1,
      lockDuration: opts.lockDurationMs ?? 10_000,
      stalledInterval: opts.stalledIntervalMs ?? 5000,
      maxStalledCount: opts.maxStalledCount ?? 3,
      name: `image-service@${hostname()}:${process.pid}`,
      ...(opts.limiter ? { limiter: { max: opts.limiter.max, duration: opts.limiter.durationMs } } : {}),
    });
    this.worker.on('error', (e) => log.warn({ err: e.message, redis: redisDisplay(opts.redis) }, 'pull worker: Redis error (retrying)'));
    this.worker.on('stalled', (jobId) => log.warn({ jobId }, 'pull job stalled: its worker died; it goes back to the queue'));
    this.worker.on('completed', () => this.completed++);
    this.worker.on('failed', () => this.failed++);
  }

  /** Resolves once connected to Redis. */
  waitUntilReady(): Promise<unknown> {
    return this.worker.waitUntilReady();
  }

  private async process(job: Job<PullJobData, PullJobResult>): Promise<PullJobResult> {
    const ctx = newContext(this.opts.log, {
      requestId: job.data.requestId,
      onProgress: (p) => {
        void job.updateProgress(p).catch(() => undefined);
      },
    });
    ctx.log.info({ jobId: job.id, reference: job.data.reference, attempt: job.attemptsMade + 1 }, 'pull job started');
    try {
      const id = await this.opts.pull(job.data, ctx);
      ctx.log.info({ jobId: job.id, imageId: id }, 'pull job done');
      return { id };
    } catch (e) {
      const err = toCongaError(e);
      ctx.log.info({ jobId: job.id, err: err.message, code: err.code }, 'pull job failed');
      if (isPermanent(err)) throw new UnrecoverableError(encodeFailure(err));
      throw new Error(encodeFailure(err));
    }
  }

  close(): Promise<void> {
    this.closing ??= this.worker.close();
    return this.closing;
  }
}
