import * as grpc from '@grpc/grpc-js';
import type { CallContext, ServiceName } from '@conga/common';
import type { ExecutorService, ImageService, NetworkService, StorageService } from '@conga/api';
import { serviceClient } from './proto';
import { fromStatus } from './status';

/** Calls that may legitimately run long (a pull, waiting for an exit) get no default deadline. */
const LONG_CALLS = new Set(['pullImage', 'applyLayer', 'waitTask', 'waitExec', 'execSync', 'pushImage', 'saveImages', 'loadImages', 'importImage']);
const DEFAULT_DEADLINE_MS = 120_000;

export interface ProxyOptions {
  /** Deadline for ordinary calls, in ms (default 120 s). */
  deadlineMs?: number;
}

export type Closable = { close(): void };

/**
 * A remote implementation of a service interface over gRPC: every method of the proto becomes
 * a `(req, ctx) => Promise<res>` method, so a proxy is an ordinary ImageService/StorageService/...
 * Streaming calls relay `progress` messages to ctx.onProgress and resolve with `result`.
 */
export function createProxy<T>(svc: ServiceName, address: string, opts: ProxyOptions = {}): T & Closable {
  const Ctor = serviceClient(svc);
  const client = new Ctor(address.includes(':') ? address : `unix:${address}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 << 20,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2000,
  });
  const proxy: Record<string, unknown> = { close: () => client.close() };
  for (const [name, m] of Object.entries(Ctor.service)) {
    const method = m.originalName ?? name[0].toLowerCase() + name.slice(1);
    const fn = (client as any)[name].bind(client);
    proxy[method] = (req: unknown, ctx: CallContext) =>
      new Promise((resolve, reject) => {
        const md = new grpc.Metadata();
        md.set('x-request-id', ctx.requestId);
        const options: grpc.CallOptions = {};
        if (!LONG_CALLS.has(method)) options.deadline = Date.now() + (opts.deadlineMs ?? DEFAULT_DEADLINE_MS);
        if (m.responseStream) {
          const call: grpc.ClientReadableStream<any> = fn(req ?? {}, md, options);
          let result: unknown;
          call.on('data', (msg: any) => {
            if (msg.event === 'progress' && msg.progress) ctx.onProgress?.(msg.progress);
            else if (msg.event === 'result') result = msg.result;
          });
          call.on('error', (e: grpc.ServiceError) => reject(fromStatus(svc, e)));
          call.on('end', () => (result === undefined ? reject(fromStatus(svc, { code: grpc.status.INTERNAL, details: 'stream ended without a result' } as grpc.ServiceError)) : resolve(result)));
          ctx.signal?.addEventListener('abort', () => call.cancel(), { once: true });
        } else {
          // Wait for the channel to be ready only within the deadline: a service that is down
          // fails fast with Unavailable instead of hanging.
          const call: grpc.ClientUnaryCall = fn(req ?? {}, md, { ...options, waitForReady: false }, (err: grpc.ServiceError | null, res: unknown) =>
            err ? reject(fromStatus(svc, err)) : resolve(res),
          );
          ctx.signal?.addEventListener('abort', () => call.cancel(), { once: true });
        }
      });
  }
  return proxy as T & Closable;
}

export const imageProxy = (address: string, o?: ProxyOptions) => createProxy<ImageService>('image', address, o);
export const storageProxy = (address: string, o?: ProxyOptions) => createProxy<StorageService>('storage', address, o);
export const networkProxy = (address: string, o?: ProxyOptions) => createProxy<NetworkService>('network', address, o);
export const executorProxy = (address: string, o?: ProxyOptions) => createProxy<ExecutorService>('executor', address, o);
