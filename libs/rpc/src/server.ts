import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_SOCKET_GROUP, E, newContext, newRequestId, secureSocket, type Logger, type ServiceName } from '@conga/common';
import { serviceClient } from './proto';
import { toStatus } from './status';
import { addHealthService } from './health';
import { serverCredentials, type Endpoint } from './endpoint';
import { rpcServerDuration } from './metrics';

/** The gRPC status name of an outcome (label of the RPC metrics). */
export const statusName = (code: number | undefined) => (code === undefined ? 'OK' : (grpc.status[code] ?? String(code)));

type Impl = Record<string, (req: unknown, ctx: any) => Promise<unknown>>;

/**
 * Turn an in-process implementation of a service interface into gRPC handlers. Method names
 * are the proto's in lowerCamelCase. Server-streaming RPCs follow one convention: the response
 * has a oneof of `progress` (sent for each ctx.onProgress call) and `result` (sent last).
 */
export function grpcHandlers(svc: ServiceName, impl: object, log: Logger): grpc.UntypedServiceImplementation {
  const def = serviceClient(svc).service;
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(def)) {
    const method = m.originalName ?? name[0].toLowerCase() + name.slice(1);
    const found = (impl as Impl)[method];
    // A method the implementation lacks (an older build, a partial fake) answers Unimplemented.
    const impl0: Impl[string] =
      typeof found === 'function' ? found : async () => Promise.reject(E.NotImplemented(`${svc} service method ${method}`));
    const fn: Impl[string] = function (this: unknown, req, ctx) {
      const end = rpcServerDuration.startTimer({ service: svc, method });
      return impl0.call(this, req, ctx).then(
        (r) => (end({ code: 'OK' }), r),
        (e) => {
          end({ code: statusName(toStatus(e).code) });
          throw e;
        },
      );
    };
    const ctxFor = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, extra = {}) => {
      const rid = call.metadata.get('x-request-id')[0];
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      return newContext(log, { requestId: typeof rid === 'string' ? rid : newRequestId(), signal: ac.signal, ...extra });
    };
    if (m.responseStream) {
      handlers[name] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const ctx = ctxFor(call, { onProgress: (p: unknown) => call.write({ progress: p }) });
        fn.call(impl, call.request, ctx).then(
          (result) => {
            call.write({ result });
            call.end();
          },
          (e) => {
            ctx.log.info({ err: e }, `${method} failed`);
            call.emit('error', toStatus(e));
          },
        );
      };
    } else {
      handlers[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const ctx = ctxFor(call);
        fn.call(impl, call.request, ctx).then(
          (res) => cb(null, res),
          (e) => {
            ctx.log.info({ err: e }, `${method} failed`);
            cb(toStatus(e) as grpc.ServiceError);
          },
        );
      };
    }
  }
  return handlers;
}

export interface RpcServer {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serve services on a unix socket (mode 0660, group `opts.group` — daemon.json "group", default
 * "conga" — when it exists, else root:root; a stale socket file is replaced).
 * `services` maps a service name to its in-process implementation.
 */
export function serveUnix(socketPath: string, services: Partial<Record<ServiceName, object>>, log: Logger, opts: { group?: string } = {}): Promise<RpcServer> {
  return serveAt({ target: `unix:${socketPath}`, socketPath }, services, log, opts);
}

/**
 * Serve services on an endpoint (see serviceEndpoint): a unix socket as serveUnix does, or TCP
 * with mutual TLS (a client without a certificate signed by the CA is refused in the handshake).
 */
export async function serveAt(
  ep: Pick<Endpoint, 'target' | 'socketPath' | 'tls'>,
  services: Partial<Record<ServiceName, object>>,
  log: Logger,
  opts: { group?: string } = {},
): Promise<RpcServer> {
  const socketPath = ep.socketPath;
  if (socketPath) {
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o750 });
    rmSync(socketPath, { force: true });
  }
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 << 20 });
  for (const [svc, impl] of Object.entries(services)) {
    server.addService(serviceClient(svc as ServiceName).service, grpcHandlers(svc as ServiceName, impl!, log));
  }
  let closing = false;
  addHealthService(server, Object.keys(services) as ServiceName[], () => !closing);
  const address = ep.target;
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(address, serverCredentials(ep as Endpoint), (err) =>
      err ? reject(E.InvalidArgument(`cannot listen on ${address}: ${err.message}`)) : resolve(),
    ),
  );
  if (socketPath) secureSocket(socketPath, opts.group ?? DEFAULT_SOCKET_GROUP, log);
  let closed: Promise<void> | undefined;
  return {
    address,
    close() {
      closing = true;
      closed ??= new Promise<void>((resolve) => {
        const t = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }).then(() => (socketPath ? rmSync(socketPath, { force: true }) : undefined));
      return closed;
    },
  };
}
