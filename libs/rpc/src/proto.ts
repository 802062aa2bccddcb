import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ServiceName } from '@conga/common';

/** Options shared by the runtime loader and the type generator (scripts/gen-proto.mjs). */
export const loaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The proto/ directory: next to the bundle (dist/proto) or at the repository root. */
export function protoDir(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'proto', 'conga'))) return join(dir, 'proto');
    const up = dirname(dir);
    if (up === dir) throw new Error(`proto/ directory not found above ${__dirname}`);
    dir = up;
  }
}

const files: Record<ServiceName, { file: string; service: string }> = {
  image: { file: 'conga/image/v1/image.proto', service: 'conga.services.image.v1.Images' },
  storage: { file: 'conga/storage/v1/storage.proto', service: 'conga.services.storage.v1.Storage' },
  network: { file: 'conga/network/v1/network.proto', service: 'conga.services.network.v1.Networks' },
  executor: { file: 'conga/executor/v1/executor.proto', service: 'conga.services.executor.v1.Tasks' },
};

const cache = new Map<ServiceName, grpc.ServiceClientConstructor>();

/** The generic client constructor (with its service definition) of one of Conga's services. */
export function serviceClient(svc: ServiceName): grpc.ServiceClientConstructor {
  let ctor = cache.get(svc);
  if (!ctor) {
    const { file, service } = files[svc];
    const def = protoLoader.loadSync(file, { ...loaderOptions, includeDirs: [protoDir()] });
    const pkg = grpc.loadPackageDefinition(def);
    ctor = service.split('.').reduce((o: any, k) => o[k], pkg) as grpc.ServiceClientConstructor;
    cache.set(svc, ctor);
  }
  return ctor;
}

/** Full gRPC name of a service, e.g. conga.services.image.v1.Images. */
export function serviceFullName(svc: ServiceName): string {
  return files[svc].service;
}
