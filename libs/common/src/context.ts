import { randomBytes } from 'node:crypto';
import { type Logger, requestLogger, silentLogger } from './logging';
import type { Progress } from './progress';

/**
 * What every service call carries: a request id (propagated over gRPC as x-request-id),
 * a child logger bound to it, an optional abort signal and, for long operations, a progress sink.
 */
export interface CallContext {
  readonly requestId: string;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** Called with progress events by long operations (pull); ignored elsewhere. */
  readonly onProgress?: (p: Progress) => void;
}

export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}

/** A fresh context; `log` gets a child bound to the new request id. */
export function newContext(log: Logger = silentLogger(), extra: Partial<CallContext> = {}): CallContext {
  const requestId = extra.requestId ?? newRequestId();
  return { ...extra, requestId, log: requestLogger(log, requestId) };
}
