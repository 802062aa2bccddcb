import { ErrorKinds, type ErrorKind } from './kinds';

/**
 * An error Conga can show a user: a stable code (CONGA_ERR_<AREA>_<WHAT>, declared once in the
 * catalog), a kind (decides gRPC/HTTP status) and a message that says what was wrong and what to do.
 */
export class CongaError extends Error {
  override readonly name = 'CongaError';
  constructor(
    readonly code: string,
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  get httpStatus(): number {
    return ErrorKinds[this.kind].http;
  }
  get grpcCode(): number {
    return ErrorKinds[this.kind].grpc;
  }
}

export function isCongaError(e: unknown): e is CongaError {
  return e instanceof CongaError;
}

/** A catalog entry: call it to make the error. */
export interface ErrorDef<A extends unknown[]> {
  readonly code: string;
  readonly kind: ErrorKind;
  (...args: A): CongaError;
  /** True when `e` is this error (by code, so it also matches errors that crossed gRPC). */
  is(e: unknown): e is CongaError;
}

export function defineError<A extends unknown[]>(
  code: string,
  kind: ErrorKind,
  message: (...args: A) => string,
): ErrorDef<A> {
  const make = ((...args: A) => new CongaError(code, kind, message(...args))) as ErrorDef<A>;
  Object.defineProperty(make, 'code', { value: code });
  Object.defineProperty(make, 'kind', { value: kind });
  make.is = (e: unknown): e is CongaError => isCongaError(e) && e.code === code;
  return make;
}

/** Wrap anything thrown into a CongaError (unknown errors become Internal, message kept). */
export function toCongaError(e: unknown): CongaError {
  if (isCongaError(e)) return e;
  const err = e as NodeJS.ErrnoException;
  if (err && err.name === 'AbortError') return new CongaError('CONGA_ERR_CANCELED', 'Canceled', 'operation canceled', { cause: e });
  const msg = err && typeof err.message === 'string' ? err.message : String(e);
  return new CongaError('CONGA_ERR_INTERNAL', 'Internal', msg, { cause: e });
}
