import { Queue, QueueEvents } from 'bullmq';
import { E, isCongaError, type CallContext, type CongaError, type Logger } from '@conga/common';
import { decodeFailure, PULL_QUEUE, pullJobId, type PullJobData, type PullJobProgress, type PullJobResult } from './pull-job';
import { redisDisplay, redisOptions } from './redis-options';

/** Options of {@link PullQueue}. */
export interface PullQueueOptions {
  /** daemon.json "redis": URL or unix socket path. */
  redis: string;
  log: Logger;
  /** Queue name (tests use a random one); default {@link PULL_QUEUE}. */
  queueName?: string;
  /** Attempts per pull job before it fails (default 3), with exponential backoff from backoffMs. */
  attempts?: number;
  /** First retry delay in ms (default 1000, doubling). */
  backoffMs?: number;
  /** How often a waiter checks that its job still exists, in ms (default 2000). */
  pollMs?: number;
}

/** Queue depth as /info reports it. */
export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  workers: number;
}

interface Waiter {
  onProgress?: (p: PullJobProgress) => void;
  resolve(r: PullJobResult | undefined): void;
  reject(e: CongaError): void;
}

/** How long an enqueue may take before Redis is declared unreachable. */
const ENQUEUE_TIMEOUT_MS = 5000;

/**
 * The producer side of split mode's pull queue (congad, CRI PullImage): enqueue a pull as a
 * bullmq job whose id is the normalized reference + platform, so identical concurrent pulls
 * are one job, then wait for it while relaying the worker's progress events. Waiting is
 * per-process; the job itself lives in Redis and survives a restart of the caller.
 * close() is idempotent.
 */
export class PullQueue {
  readonly name: string;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly display: string;
  private closed = false;

  constructor(private readonly opts: PullQueueOptions) {
    this.name = opts.queueName ?? PULL_QUEUE;
    this.display = redisDisplay(opts.redis);
    const conn = redisOptions(opts.redis);
    // The producer must fail fast while Redis is down instead of queueing commands forever.
    this.queue = new Queue(this.name, { connection: { ...conn, enableOfflineQueue: false, maxRetriesPerRequest: 1 } });
    this.events = new QueueEvents(this.name, { connection: conn });
    const onError = (e: Error) => {
      opts.log.warn({ err: e.message, redis: this.display }, 'pull queue: Redis error');
      this.failAll(E.QueueUnavailable(this.display, e.message));
    };
    this.queue.on('error', onError);
    this.events.on('error', onError);
    this.events.on('progress', ({ jobId, data }) => {
      for (const w of this.waiters.get(jobId) ?? []) {
        try {
          w.onProgress?.(data as PullJobProgress);
        } catch {
          /* a listener's failure must not break the others */
        }
      }
    });
    this.events.on('completed', ({ jobId, returnvalue }) => {
      const ws = this.take(jobId);
      let r: PullJobResult | undefined;
      try {
        r = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as PullJobResult;
      } catch {
        r = undefined;
      }
      for (const w of ws) w.resolve(r);
    });
    this.events.on('failed', ({ jobId, failedReason }) => {
      for (const w of this.take(jobId)) w.reject(decodeFailure(failedReason));
    });
  }

  private take(jobId: string): Set<Waiter> {
    const ws = this.waiters.get(jobId) ?? new Set<Waiter>();
    this.waiters.delete(jobId);
    return ws;
  }

  private failAll(e: CongaError): void {
    const all = [...this.waiters.values()].flatMap((s) => [...s]);
    this.waiters.clear();
    for (const w of all) w.reject(e);
  }

  private async withTimeout<T>(what: string, p: Promise<T>): Promise<T> {
    let t: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          t = setTimeout(() => reject(E.QueueUnavailable(this.display, `${what} got no answer within ${ENQUEUE_TIMEOUT_MS / 1000} s`)), ENQUEUE_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      if (isCongaError(e)) throw e;
      throw E.QueueUnavailable(this.display, (e as Error).message);
    } finally {
      clearTimeout(t);
    }
  }

  /**
   * Enqueue (or join) the pull of `data.reference` for `data.platform` and wait for it.
   * Resolves with the job's result, or undefined when the job finished without this process
   * seeing its result (the caller then looks the image up). Progress goes to ctx.onProgress.
   */
  async pull(data: PullJobData, ctx: CallContext): Promise<PullJobResult | undefined> {
    if (this.closed) throw E.QueueUnavailable(this.display, 'the queue client is closed');
    const platform = [data.platform.os, data.platform.architecture, data.platform.variant].filter(Boolean).join('/');
    const jobId = pullJobId(data.reference, platform);
    // Listen before enqueueing, so that no event of this job is missed.
    await this.withTimeout('connecting to the event stream', this.events.waitUntilReady());
    const workers = await this.withTimeout('counting workers', this.queue.getWorkersCount());
    if (workers === 0) throw E.QueueNoWorkers(this.name);
    return new Promise<PullJobResult | undefined>((resolve, reject) => {
      let poll: NodeJS.Timeout | undefined;
      const done = () => {
        clearInterval(poll);
        ctx.signal?.removeEventListener('abort', onAbort);
        this.waiters.get(jobId)?.delete(w);
        if (this.waiters.get(jobId)?.size === 0) this.waiters.delete(jobId);
      };
      const w: Waiter = {
        onProgress: ctx.onProgress,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      // The caller going away stops its wait, not the job: other callers may share it.
      const onAbort = () => w.reject(E.Canceled(`pull of ${data.reference}`));
      if (ctx.signal?.aborted) return reject(E.Canceled(`pull of ${data.reference}`));
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      let set = this.waiters.get(jobId);
      if (!set) this.waiters.set(jobId, (set = new Set()));
      set.add(w);
      this.withTimeout(
        'enqueueing the pull',
        this.queue.add('pull', data, {
          jobId,
          attempts: this.opts.attempts ?? 3,
          backoff: { type: 'exponential', delay: this.opts.backoffMs ?? 1000 },
          removeOnComplete: true,
          removeOnFail: true,
        }),
      ).then(
        () => {
          ctx.log.debug({ jobId }, 'pull enqueued');
          // A safety net for events missed (e.g. across a reconnect): a job that is gone has finished.
          poll = setInterval(() => {
            this.queue.getJobState(jobId).then(
              (state) => {
                if (state === 'unknown') w.resolve(undefined);
              },
              () => {
                /* Redis errors reach the waiters through the 'error' event */
              },
            );
          }, this.opts.pollMs ?? 2000);
        },
        (e: CongaError) => w.reject(e),
      );
    });
  }

  /** Queue depth and number of connected workers (for /info and metrics). */
  async depth(): Promise<QueueDepth> {
    const [counts, workers] = await Promise.all([
      this.withTimeout('reading the queue depth', this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed')),
      this.withTimeout('counting workers', this.queue.getWorkersCount()),
    ]);
    return { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, failed: counts.failed ?? 0, workers };
  }

  /** The Redis address (no password), for messages and /info. */
  get redis(): string {
    return this.display;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(E.Canceled('waiting for a pull (the engine is shutting down)'));
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }
}
