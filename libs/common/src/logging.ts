import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * The process logger. JSON lines on stderr (journald/stdout friendly); level from
 * CONGA_LOG_LEVEL (default info). One per process; per request use {@link requestLogger}.
 */
export function createLogger(name: string, level = process.env.CONGA_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { svc: name, pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that writes nothing (tests, CLI). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** A child logger carrying the request id (pino child logger per request). */
export function requestLogger(log: Logger, requestId: string, bindings: Record<string, unknown> = {}): Logger {
  return log.child({ reqId: requestId, ...bindings });
}
