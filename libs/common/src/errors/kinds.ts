/**
 * The small fixed set of error kinds (containerd's errdefs). Every Conga error has one kind;
 * the kind alone decides the gRPC status code and the HTTP status, in exactly one table here.
 */
export const ErrorKinds = {
  InvalidArgument: { grpc: 3, http: 400 },
  NotFound: { grpc: 5, http: 404 },
  AlreadyExists: { grpc: 6, http: 409 },
  PermissionDenied: { grpc: 7, http: 403 },
  ResourceExhausted: { grpc: 8, http: 507 },
  FailedPrecondition: { grpc: 9, http: 409 },
  Aborted: { grpc: 10, http: 409 },
  Unimplemented: { grpc: 12, http: 501 },
  Internal: { grpc: 13, http: 500 },
  Unavailable: { grpc: 14, http: 503 },
  DeadlineExceeded: { grpc: 4, http: 504 },
  Canceled: { grpc: 1, http: 499 },
} as const;

export type ErrorKind = keyof typeof ErrorKinds;

const byGrpc = new Map<number, ErrorKind>(
  (Object.keys(ErrorKinds) as ErrorKind[]).map((k) => [ErrorKinds[k].grpc, k]),
);

/** The kind for a gRPC status code (unknown codes are Internal). */
export function kindFromGrpc(code: number): ErrorKind {
  return byGrpc.get(code) ?? 'Internal';
}
