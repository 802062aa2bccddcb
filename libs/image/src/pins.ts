/** Reference counts of objects in use by running operations (pulls pin blobs and layers). */
export class PinSet {
  private readonly counts = new Map<string, number>();

  pin(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  unpin(key: string): void {
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }

  has(key: string): boolean {
    return this.counts.has(key);
  }
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
