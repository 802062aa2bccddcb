import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { KeyedMutex, type Logger } from '@conga/common';
import { redisOptions } from './redis-options';

/** Options of {@link DistributedLocks}. */
export interface DistributedLocksOptions {
  /** daemon.json "redis". */
  redis: string;
  log: Logger;
  /**
   * Keys with one of these prefixes are also locked across processes (default ["blob:", "chain:"]:
   * blobs are fetched once, and a layer is never deleted while another process finds and uses it).
   */
  prefixes?: string[];
  /** Lock lifetime without renewal: a dead holder's lock frees itself after it (default 10 s). */
  ttlMs?: number;
  /** Namespace of the lock keys in Redis (tests use a random one). */
  namespace?: string;
}

const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;
const RENEW = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`;

/**
 * A KeyedMutex whose chosen keys (by default "blob:<digest>" and "chain:<id>") are also locked across
 * processes through Redis (SET NX PX with renewal, compare-and-delete release), so that
 * several image-service processes sharing one content store fetch each blob once. While
 * Redis is unreachable it degrades to the in-process lock: blobs stay correct (the content
 * store verifies and renames atomically), only cross-process dedupe is lost. close() is idempotent.
 */
export class DistributedLocks extends KeyedMutex {
  private readonly client: Redis;
  private readonly prefixes: string[];
  private readonly ttl: number;
  private readonly ns: string;
  private closed = false;

  constructor(private readonly opts: DistributedLocksOptions) {
    super();
    // Lock commands must fail fast when Redis is down (we then fall back), not queue up.
    this.client = new Redis({ ...(redisOptions(opts.redis) as object), enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
    this.client.on('error', () => undefined);
    this.prefixes = opts.prefixes ?? ['blob:', 'chain:'];
    this.ttl = opts.ttlMs ?? 10_000;
    this.ns = opts.namespace ?? 'conga:lock:';
  }

  override run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (!this.prefixes.some((p) => key.startsWith(p))) return super.run(key, fn);
    return super.run(key, () => this.withRedisLock(key, fn));
  }

  private async withRedisLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const rkey = this.ns + key;
    const token = randomBytes(12).toString('hex');
    let held = false;
    for (let wait = 20; !this.closed; wait = Math.min(wait * 2, 250)) {
      try {
        held = (await this.client.set(rkey, token, 'PX', this.ttl, 'NX')) === 'OK';
      } catch (e) {
        this.opts.log.warn({ key, err: (e as Error).message }, 'cross-process lock unavailable (Redis down?): using the local lock only');
        break;
      }
      if (held) break;
      await new Promise((r) => setTimeout(r, wait));
    }
    if (!held) return fn();
    const renew = setInterval(() => {
      this.client.eval(RENEW, 1, rkey, token, String(this.ttl)).catch(() => undefined);
    }, Math.max(200, Math.floor(this.ttl / 3)));
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await this.client.eval(RELEASE, 1, rkey, token).catch(() => undefined);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.disconnect();
  }
}
