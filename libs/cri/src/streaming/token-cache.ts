import { randomBytes } from 'node:crypto';

/** How long a streaming URL stays valid (kubelet's streaming server uses one minute too). */
export const TOKEN_TTL_MS = 60_000;
/** At most this many outstanding tokens; the oldest go first. */
const MAX_TOKENS = 1000;

/**
 * One-time tokens for streaming URLs: `put` returns an unguessable token, `take` returns its
 * value once (and never again), or undefined when it is unknown, used or expired.
 */
export class TokenCache<T> {
  private readonly items = new Map<string, { value: T; expires: number }>();

  constructor(private readonly ttlMs = TOKEN_TTL_MS, private readonly now: () => number = Date.now) {}

  put(value: T): string {
    this.prune();
    const token = randomBytes(18).toString('base64url');
    this.items.set(token, { value, expires: this.now() + this.ttlMs });
    return token;
  }

  take(token: string): T | undefined {
    const it = this.items.get(token);
    if (!it) return undefined;
    this.items.delete(token);
    return it.expires > this.now() ? it.value : undefined;
  }

  get size(): number {
    return this.items.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, v] of this.items) if (v.expires <= now) this.items.delete(k);
    while (this.items.size >= MAX_TOKENS) this.items.delete(this.items.keys().next().value!);
  }
}
