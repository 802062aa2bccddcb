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

/**
 * A gRPC error back into the CongaError it was. Transport failures name the service, and with
 * `address` also where it was expected and what to check, e.g. "the network service is
 * unavailable: cannot connect to /run/conga/services/network.sock (ECONNREFUSED); is
 * conga-network-service running?".
 */
export function fromStatus(svc: ServiceName, e: grpc.ServiceError, address?: string): CongaError {
  const code = e.metadata?.get(CODE_KEY)?.[0];
  if (typeof code === 'string') return new CongaError(code, kindFromGrpc(e.code), e.details);
  if (e.code === grpc.status.UNAVAILABLE) {
    const detail = e.details || e.message;
    if (!address) return E.ServiceUnavailable(svc, detail);
    const why = /\b(E[A-Z]{3,})\b/.exec(detail)?.[1] ?? (/handshake|certificate|ssl|tls/i.test(detail) ? `TLS: ${detail}` : detail);
    return E.ServiceUnavailable(svc, `cannot connect to ${address} (${why}); is conga-${svc}-service running?`);
  }
  if (e.code === grpc.status.DEADLINE_EXCEEDED) return E.Timeout(`call to the ${svc} service`);
  if (e.code === grpc.status.CANCELLED) return E.Canceled(`call to the ${svc} service`);
  return new CongaError('CONGA_ERR_INTERNAL', kindFromGrpc(e.code), `${svc} service: ${e.details || e.message}`);
}
