import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { E } from '@conga/common';

interface Waiter {
  resolve(r: 'exited' | 'timeout'): void;
  reject(e: unknown): void;
}

/**
 * Waits for tasks to finish. One `fs.watch` on the exits directory (conmon writes
 * `<exits>/<id>` when a container exits) serves every waiter, plus a slow poll as a safety net
 * (missed events, dead monitors). `isDone(id)` decides; it is never run twice at once for an id.
 * Internal to the executor.
 */
export class ExitWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly checking = new Map<string, boolean>(); // id -> re-check requested
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly isDone: (id: string) => Promise<boolean>,
    private readonly pollMs = 2000,
  ) {}

  /** Resolve 'exited' once `isDone(id)`, or 'timeout' after timeoutMs (0: never). */
  wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<'exited' | 'timeout'> {
    if (this.closed) return Promise.reject(E.ServiceUnavailable('executor', 'the service is closing'));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(() => reject(E.Canceled(`waiting for container ${id}`)));
      const settle = (fn: () => void) => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const set = this.waiters.get(id);
        set?.delete(w);
        if (set && set.size === 0) this.waiters.delete(id);
        this.maybeStop();
        fn();
      };
      const w: Waiter = {
        resolve: (r) => settle(() => resolve(r)),
        reject: (e) => settle(() => reject(e)),
      };
      if (signal?.aborted) return reject(E.Canceled(`waiting for container ${id}`));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0) timer = setTimeout(() => w.resolve('timeout'), timeoutMs);
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      set.add(w);
      this.ensureStarted();
      this.check(id); // the exit may have happened before the watch was set up
    });
  }

  /** Number of ids being waited for (for tests and metrics). */
  get watchedIds(): number {
    return this.waiters.size;
  }

  /** Wake waiters of `id` if it is done (also used after a kill or delete). */
  check(id: string): void {
    if (!this.waiters.has(id)) return;
    if (this.checking.has(id)) {
      this.checking.set(id, true);
      return;
    }
    this.checking.set(id, false);
    void this.isDone(id)
      .then(
        (done) => {
          if (done) for (const w of [...(this.waiters.get(id) ?? [])]) w.resolve('exited');
        },
        (e) => {
          for (const w of [...(this.waiters.get(id) ?? [])]) w.reject(e);
        },
      )
      .finally(() => {
        const again = this.checking.get(id);
        this.checking.delete(id);
        if (again) this.check(id);
      });
  }

  private ensureStarted(): void {
    if (!this.watcher) {
      mkdirSync(this.dir, { recursive: true });
      this.watcher = watch(this.dir, (_ev, name) => {
        if (name) this.check(String(name));
        else for (const id of this.waiters.keys()) this.check(id);
      });
      this.watcher.on('error', () => undefined); // the poll keeps working
    }
    if (!this.poll) {
      this.poll = setInterval(() => {
        for (const id of this.waiters.keys()) this.check(id);
      }, this.pollMs);
    }
  }

  private maybeStop(): void {
    if (this.waiters.size > 0) return;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }

  /** Stop watching; pending waiters fail with ServiceUnavailable. Idempotent. */
  close(): void {
    this.closed = true;
    const err = E.ServiceUnavailable('executor', 'the service is closing');
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.reject(err);
    this.maybeStop();
  }
}
