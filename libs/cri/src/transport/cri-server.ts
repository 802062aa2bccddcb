import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { DEFAULT_SOCKET_GROUP, E, newContext, newRequestId, secureSocket, type Logger } from '@conga/common';
import { loaderOptions, protoDir, toStatus } from '@conga/rpc';
import type { CriRpc, CriStreamRpc } from '../runtime-service';
import { startAuthorityRelay } from './authority-relay';

/** The CRI proto under proto/ (copied next to the bundles by scripts/build.mjs). */
export const CRI_PROTO = 'k8s/cri/v1/api.proto';

let pkg: grpc.GrpcObject | undefined;
/** runtime.v1 loaded with Conga's usual loader options (camelCase fields, int64 as numbers, enum names). */
export function criPackage(): grpc.GrpcObject {
  pkg ??= grpc.loadPackageDefinition(protoLoader.loadSync(CRI_PROTO, { ...loaderOptions, includeDirs: [protoDir()] }));
  return (pkg.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
}

type Handlers = Record<string, CriRpc | CriStreamRpc>;

function grpcHandlers(service: grpc.ServiceDefinition, impl: Handlers, log: Logger): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(service)) {
    const method = name[0].toLowerCase() + name.slice(1);
    const fn = impl[method] ?? (async () => Promise.reject(E.NotImplemented(`CRI ${name}`)));
    const ctxFor = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      return newContext(log, { requestId: newRequestId(), signal: ac.signal });
    };
    const fail = (ctx: { log: Logger }, e: unknown) => {
      ctx.log.info({ err: e }, `CRI ${name} failed`);
      return toStatus(e) as grpc.ServiceError;
    };
    if (m.responseStream) {
      out[name] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const ctx = ctxFor(call);
        (fn as CriStreamRpc)(call.request, { ...ctx, send: (msg) => call.write(msg) }).then(
          () => call.end(),
          (e) => call.emit('error', fail(ctx, e)),
        );
      };
    } else {
      out[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const ctx = ctxFor(call);
        (fn as CriRpc)(call.request, ctx).then(
          (res) => cb(null, res),
          (e) => cb(fail(ctx, e)),
        );
      };
    }
  }
  return out;
}

export interface CriServer {
  /** The public socket kubelet and crictl dial. */
  readonly socketPath: string;
  close(): Promise<void>;
}

/**
 * Serve RuntimeService and ImageService: grpc-js on a private socket `<dir of socket>/cri/grpc.sock`
 * (0600) behind the authority relay on `socketPath` (0660, group `group`).
 */
export async function serveCri(
  socketPath: string,
  runtime: Handlers,
  images: Handlers,
  log: Logger,
  opts: { group?: string } = {},
): Promise<CriServer> {
  const v1 = criPackage();
  const privateDir = join(dirname(socketPath), 'cri');
  mkdirSync(privateDir, { recursive: true, mode: 0o700 });
  const privatePath = join(privateDir, 'grpc.sock');
  rmSync(privatePath, { force: true });
  rmSync(socketPath, { force: true });
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20 });
  server.addService((v1.RuntimeService as grpc.ServiceClientConstructor).service, grpcHandlers((v1.RuntimeService as grpc.ServiceClientConstructor).service, runtime, log));
  server.addService((v1.ImageService as grpc.ServiceClientConstructor).service, grpcHandlers((v1.ImageService as grpc.ServiceClientConstructor).service, images, log));
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${privatePath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  chmodSync(privatePath, 0o600);
  let relay: { close(): Promise<void> };
  try {
    relay = await startAuthorityRelay(socketPath, privatePath, (e) => log.warn({ err: e }, 'CRI connection dropped'));
    secureSocket(socketPath, opts.group ?? DEFAULT_SOCKET_GROUP, log);
  } catch (e) {
    server.forceShutdown();
    throw e;
  }
  let closed: Promise<void> | undefined;
  return {
    socketPath,
    close() {
      closed ??= (async () => {
        await relay.close();
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => server.forceShutdown(), 2000);
          server.tryShutdown(() => {
            clearTimeout(t);
            resolve();
          });
        });
        rmSync(socketPath, { force: true });
        rmSync(privatePath, { force: true });
      })();
      return closed;
    },
  };
}
