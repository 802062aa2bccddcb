import type { RedisOptions } from 'bullmq';
import { E } from '@conga/common';

/**
 * ioredis options from daemon.json's "redis": a unix socket path (`/run/redis/redis.sock` or
 * `unix:///run/redis/redis.sock`) or a `redis://[:password@]host[:port][/db]` URL.
 * Reconnects quickly (100 ms growing to 2 s) so that a Redis restart is noticed at once.
 */
export function redisOptions(spec: string): RedisOptions {
  const base: RedisOptions = {
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    // Blocking bullmq connections require it; harmless for the others.
    maxRetriesPerRequest: null,
  };
  if (!spec) throw E.InvalidConfig('daemon.json', '"redis" is empty: give a redis:// URL or a unix socket path');
  if (spec.startsWith('/')) return { ...base, path: spec };
  if (spec.startsWith('unix://')) return { ...base, path: spec.slice('unix://'.length) };
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw E.InvalidConfig('daemon.json', `"redis" is neither a unix socket path nor a URL: ${spec}`);
  }
  if (url.protocol !== 'redis:') throw E.InvalidConfig('daemon.json', `"redis" must use redis:// (got ${url.protocol}//)`);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw E.InvalidConfig('daemon.json', `"redis" has an invalid database number: ${url.pathname}`);
  return {
    ...base,
    host: url.hostname || '127.0.0.1',
    port: url.port ? Number(url.port) : 6379,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    db,
  };
}

/** The Redis address for messages (never the password). */
export function redisDisplay(spec: string): string {
  if (spec.startsWith('/') || spec.startsWith('unix://')) return spec;
  try {
    const u = new URL(spec);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return '(invalid)';
  }
}
