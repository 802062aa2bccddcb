import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { REPO } from './daemon';

/**
 * A CRI client for tests, built from the project's proto (proto/k8s/cri/v1/api.proto) with the
 * same loader options as the server: camelCase fields, int64 as numbers, enums as names.
 * `runtime.<rpc>(req)` / `image.<rpc>(req)` call an RPC by its lowerCamelCase name and resolve
 * with the response; a failed call rejects with the grpc ServiceError (code, details).
 */
export interface CriClient {
  runtime: Record<string, (req?: object, opts?: { deadlineMs?: number }) => Promise<any>>;
  image: Record<string, (req?: object, opts?: { deadlineMs?: number }) => Promise<any>>;
  /** GetContainerEvents as a readable stream of ContainerEventResponse. */
  events(): grpc.ClientReadableStream<any>;
  close(): void;
}

let v1: grpc.GrpcObject | undefined;
function criPackage(): grpc.GrpcObject {
  if (v1) return v1;
  const def = protoLoader.loadSync('k8s/cri/v1/api.proto', {
    keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [join(REPO, 'proto')],
  });
  v1 = (grpc.loadPackageDefinition(def).runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return v1;
}

function promisify(client: grpc.Client): Record<string, (req?: object, opts?: { deadlineMs?: number }) => Promise<any>> {
  return new Proxy({}, {
    get: (_t, name: string) => (req: object = {}, opts: { deadlineMs?: number } = {}) =>
      new Promise((resolve, reject) => {
        const method = (client as any)[name];
        if (typeof method !== 'function') return reject(new Error(`no CRI method ${name}`));
        method.call(client, req, { deadline: Date.now() + (opts.deadlineMs ?? 120_000) }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
      }),
  });
}

/**
 * Connect to a CRI socket. `authority` overrides the HTTP/2 :authority the client sends (a
 * grpc-go client dialing a unix socket sends the socket path there).
 */
export function criClient(socketPath: string, opts: { authority?: string } = {}): CriClient {
  const pkg = criPackage();
  const options: grpc.ChannelOptions = opts.authority ? { 'grpc.default_authority': opts.authority } : {};
  const creds = grpc.credentials.createInsecure();
  const rt = new (pkg.RuntimeService as grpc.ServiceClientConstructor)(`unix:${socketPath}`, creds, options);
  const im = new (pkg.ImageService as grpc.ServiceClientConstructor)(`unix:${socketPath}`, creds, options);
  return {
    runtime: promisify(rt),
    image: promisify(im),
    events: () => (rt as any).getContainerEvents({}),
    close() {
      rt.close();
      im.close();
    },
  };
}
