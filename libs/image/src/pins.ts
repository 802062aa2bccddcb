import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive, sweepDeadPidDirs } from './process-dirs';

/**
 * Reference counts of objects in use by running operations (pulls and loads pin blobs and
 * layers: "blob:<digest>", "chain:<id>"); deletes leave pinned objects alone.
 *
 * With a `dir`, pins are also visible to the other image-service processes sharing the state
 * dir (split mode): each pinned key is a file `<dir>/<pid>/<key>` while this process holds it,
 * and {@link has} also looks at the pins of other live processes. A killed process's pins die
 * with it (dead pids are ignored and swept by {@link init}).
 */
export class PinSet {
  private readonly counts = new Map<string, number>();
  private readonly own: string | undefined;

  constructor(private readonly dir?: string) {
    this.own = dir ? join(dir, String(process.pid)) : undefined;
  }

  /** Drop the pins of dead processes and create this process's pin dir. */
  init(): void {
    if (!this.dir || !this.own) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    sweepDeadPidDirs(this.dir);
    mkdirSync(this.own, { recursive: true, mode: 0o700 });
  }

  pin(key: string): void {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    if (n === 1 && this.own) {
      mkdirSync(this.own, { recursive: true, mode: 0o700 });
      writeFileSync(join(this.own, fileName(key)), '');
    }
  }

  unpin(key: string): void {
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n > 0) return void this.counts.set(key, n);
    if (!this.counts.delete(key)) return;
    if (this.own) rmSync(join(this.own, fileName(key)), { force: true });
  }

  /** True when this process or another live one sharing the dir holds `key`. */
  has(key: string): boolean {
    if (this.counts.has(key)) return true;
    if (!this.dir) return false;
    const f = fileName(key);
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return false;
    }
    return names.some((n) => n !== String(process.pid) && /^\d+$/.test(n) && existsSync(join(this.dir!, n, f)) && pidAlive(Number(n)));
  }
}

/** "blob:sha256:ab…" → "blob-sha256-ab…" (keys hold validated digests; anything else is neutralised). */
function fileName(key: string): string {
  return key.replace(/[^A-Za-z0-9]/g, '-');
}

/** A counting semaphore (max concurrent downloads). */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiters.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiters.shift()?.();
    }
  }
}
