import * as grpc from '@grpc/grpc-js';
import { CongaError, E, kindFromGrpc, toCongaError, type ServiceName } from '@conga/common';

const CODE_KEY = 'conga-error-code';

/** A CongaError as a gRPC status (code from its kind, stable code in trailing metadata). */
export function toStatus(e: unknown): Partial<grpc.StatusObject> {
  const err = toCongaError(e);
  const metadata = new grpc.Metadata();
  metadata.set(CODE_KEY, err.code);
  return { code: err.grpcCode, details: err.message, metadata };
}

/** A gRPC error back into the CongaError it was (transport failures name the service). */
export function fromStatus(svc: ServiceName, e: grpc.ServiceError): CongaError {
  const code = e.metadata?.get(CODE_KEY)?.[0];
  if (typeof code === 'string') return new CongaError(code, kindFromGrpc(e.code), e.details);
  if (e.code === grpc.status.UNAVAILABLE) return E.ServiceUnavailable(svc, e.details || e.message);
  if (e.code === grpc.status.DEADLINE_EXCEEDED) return E.Timeout(`call to the ${svc} service`);
  if (e.code === grpc.status.CANCELLED) return E.Canceled(`call to the ${svc} service`);
  return new CongaError('CONGA_ERR_INTERNAL', kindFromGrpc(e.code), `${svc} service: ${e.details || e.message}`);
}
