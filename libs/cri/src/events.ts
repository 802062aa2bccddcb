/**
 * CRI container events (GetContainerEvents) from the engine's event log: create, start, die
 * and destroy of containers that belong to a pod become CONTAINER_CREATED/STARTED/STOPPED/
 * DELETED. Owner: libs/cri (containers).
 */

/** The fields of an engine event (libs/engine events.ts) this file reads. */
export interface EngineEventLike {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  timeNano: number;
}

const TYPES: Record<string, string> = {
  create: 'CONTAINER_CREATED_EVENT',
  start: 'CONTAINER_STARTED_EVENT',
  die: 'CONTAINER_STOPPED_EVENT',
  destroy: 'CONTAINER_DELETED_EVENT',
};

/** The CRI event type of an engine container event, or undefined when CRI has none for it. */
export function criEventType(ev: EngineEventLike): string | undefined {
  return ev.Type === 'container' ? TYPES[ev.Action] : undefined;
}

/** Bounded queue between the engine's emitter and one slow gRPC stream: the oldest are dropped. */
export class EventQueue<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;
  dropped = 0;

  constructor(private readonly max = 1024) {}

  push(item: T): void {
    if (this.items.length >= this.max) {
      this.items.shift();
      this.dropped++;
    }
    this.items.push(item);
    this.wake?.();
  }

  /** The next item, or undefined when `signal` aborts first. */
  async next(signal: AbortSignal): Promise<T | undefined> {
    if (!this.items.length && !signal.aborted) {
      // One listener per wait, removed again: a long stream must not pile them up on the signal.
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return signal.aborted ? undefined : this.items.shift();
  }
}
