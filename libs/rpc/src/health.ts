import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ServiceName } from '@conga/common';
import { loaderOptions, protoDir, serviceFullName } from './proto';
import { clientCredentials, type Endpoint } from './endpoint';

/** grpc.health.v1 status of a service, plus UNREACHABLE when nothing answers. */
export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN' | 'UNREACHABLE';

let ctor: grpc.ServiceClientConstructor | undefined;

/** The grpc.health.v1.Health client constructor (with its service definition). */
export function healthClient(): grpc.ServiceClientConstructor {
  if (!ctor) {
    const def = protoLoader.loadSync('grpc/health/v1/health.proto', { ...loaderOptions, includeDirs: [protoDir()] });
    ctor = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health as grpc.ServiceClientConstructor;
  }
  return ctor;
}

/**
 * Serve the standard health protocol on `server`: "" (the process) and each hosted service's
 * full name answer SERVING while `serving()` is true; other names answer SERVICE_UNKNOWN.
 * Watch sends the current status once and keeps the stream open until the client leaves.
 */
export function addHealthService(server: grpc.Server, services: ServiceName[], serving: () => boolean = () => true): void {
  const known = new Set(['', ...services.map(serviceFullName)]);
  const status = (name: string) => (!known.has(name) ? 'SERVICE_UNKNOWN' : serving() ? 'SERVING' : 'NOT_SERVING');
  server.addService(healthClient().service, {
    check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const s = status(call.request.service ?? '');
      if (s === 'SERVICE_UNKNOWN') return cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      cb(null, { status: s });
    },
    watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      call.write({ status: status(call.request.service ?? '') });
    },
  });
}

/**
 * Ask a conga service process whether it serves `svc` (deadline `timeoutMs`, default 1 s).
 * `address`: a unix socket path, a grpc-js target, or an Endpoint (TCP with mutual TLS).
 */
export function checkHealth(svc: ServiceName, address: string | Endpoint, timeoutMs = 1000): Promise<HealthStatus> {
  const Ctor = healthClient();
  const client =
    typeof address === 'string'
      ? new Ctor(address.includes(':') ? address : `unix:${address}`, grpc.credentials.createInsecure())
      : new Ctor(address.target, clientCredentials(address));
  return new Promise<HealthStatus>((resolve) => {
    (client as any).check({ service: serviceFullName(svc) }, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: { status: HealthStatus }) => {
      client.close();
      if (!err) return resolve(res.status);
      if (err.code === grpc.status.NOT_FOUND) return resolve('SERVICE_UNKNOWN');
      resolve('UNREACHABLE');
    });
  });
}
