import { E } from './errors';

/** daemon.json "registry-rate-limits" entry: limits for one registry host. */
export interface HostLimits {
  /** Sustained request rate (token bucket refill). */
  'requests-per-second'?: number;
  /** Requests allowed at once above the rate (bucket size; default max(1, requests-per-second)). */
  burst?: number;
  /** Requests open at the same time, blob downloads included (a slot is held until the body ends). */
  'max-concurrent'?: number;
}

/**
 * A token bucket plus a counting semaphore for one host. `acquire` waits for a token and a free
 * slot (in FIFO order) and returns the slot's release function.
 */
export class HostLimiter {
  private tokens: number;
  private last = Date.now();
  private active = 0;
  private readonly queue: Array<{ grant: () => void; fail: (e: unknown) => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly rate: number;
  private readonly burst: number;
  private readonly max: number;

  constructor(limits: HostLimits) {
    this.rate = limits['requests-per-second'] ?? Infinity;
    this.burst = limits.burst ?? Math.max(1, Number.isFinite(this.rate) ? Math.ceil(this.rate) : 1);
    this.max = limits['max-concurrent'] ?? Infinity;
    this.tokens = this.burst;
  }

  /** Wait for a request slot; call the returned function exactly once when the request is over. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(E.Canceled('registry request'));
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.active--;
            this.pump();
          });
        },
        fail: reject,
      };
      const onAbort = () => {
        const i = this.queue.indexOf(entry);
        if (i !== -1) this.queue.splice(i, 1);
        reject(E.Canceled('registry request'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.pump();
    });
  }

  private refill(): void {
    const now = Date.now();
    if (Number.isFinite(this.rate)) this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  private pump(): void {
    this.refill();
    while (this.queue.length > 0 && this.active < this.max && (!Number.isFinite(this.rate) || this.tokens >= 1)) {
      if (Number.isFinite(this.rate)) this.tokens -= 1;
      this.active++;
      this.queue.shift()!.grant();
    }
    // Waiting for a token (not for a slot, which a release brings): wake up when one is due.
    if (this.queue.length > 0 && this.active < this.max && !this.timer) {
      const ms = Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, ms);
    }
  }
}

/** One HostLimiter per configured host ("host[:port]" as in references); other hosts are not limited. */
export class HostLimiters {
  private readonly byHost = new Map<string, HostLimiter>();

  constructor(config: Readonly<Record<string, HostLimits>> = {}) {
    for (const [host, l] of Object.entries(config)) this.byHost.set(host, new HostLimiter(l));
  }

  /** The limiter of `host` (tried as given, e.g. "127.0.0.1:5000", then without the port). */
  for(host: string): HostLimiter | undefined {
    return this.byHost.get(host) ?? this.byHost.get(host.replace(/:\d+$/, ''));
  }
}
