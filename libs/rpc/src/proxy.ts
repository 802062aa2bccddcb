import * as grpc from '@grpc/grpc-js';
import type { CallContext, ServiceName } from '@conga/common';
import type { ExecutorService, ImageService, NetworkService, StorageService } from '@conga/api';
import { serviceClient } from './proto';
import { fromStatus } from './status';
import { clientCredentials, type Endpoint } from './endpoint';
import { rpcClientDuration } from './metrics';
import { statusName } from './server';

/** Calls that may legitimately run long (a pull, waiting for an exit) get no default deadline. */
const LONG_CALLS = new Set(['pullImage', 'applyLayer', 'waitTask', 'waitExec', 'execSync', 'pushImage', 'saveImages', 'loadImages', 'importImage']);
const DEFAULT_DEADLINE_MS = 120_000;
/** How long a call refused for want of a connection waits for a reconnect before failing. */
const RECONNECT_WAIT_MS = 2000;
/** grpc-js's details for a call that failed before anything was sent. */
const NOT_SENT = /No connection established/;

export interface ProxyOptions {
  /** Deadline for ordinary calls, in ms (default 120 s; daemon.json "service-call-timeout"). */
  deadlineMs?: number;
}

/** A unix socket path, a grpc-js target, or an Endpoint (TCP with mutual TLS). */
export type ProxyAddress = string | Endpoint;

function resolveAddress(a: ProxyAddress): { target: string; display: string; creds: grpc.ChannelCredentials } {
  if (typeof a !== 'string') return { target: a.target, display: a.display, creds: clientCredentials(a) };
  const target = a.includes(':') ? a : `unix:${a}`;
  return { target, display: target.startsWith('unix:') ? target.slice(5) : target, creds: grpc.credentials.createInsecure() };
}

export type Closable = { close(): void };

/**
 * A remote implementation of a service interface over gRPC: every method of the proto becomes
 * a `(req, ctx) => Promise<res>` method, so a proxy is an ordinary ImageService/StorageService/...
 * Streaming calls relay `progress` messages to ctx.onProgress and resolve with `result`.
 */
export function createProxy<T>(svc: ServiceName, address: ProxyAddress, opts: ProxyOptions = {}): T & Closable {
  const Ctor = serviceClient(svc);
  const { target, display, creds } = resolveAddress(address);
  // Back-off capped at 1 s: once a service is back, the next call finds it within about a second.
  const client = new Ctor(target, creds, {
    'grpc.max_receive_message_length': 64 << 20,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
  });
  const failed = (e: grpc.ServiceError) => fromStatus(svc, e, display);
  const proxy: Record<string, unknown> = { close: () => client.close() };
  for (const [name, m] of Object.entries(Ctor.service)) {
    const method = m.originalName ?? name[0].toLowerCase() + name.slice(1);
    const fn = (client as any)[name].bind(client);
    proxy[method] = (req: unknown, ctx: CallContext) => {
      const end = rpcClientDuration.startTimer({ service: svc, method });
      return new Promise((resolve, reject) => {
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
          call.on('error', (e: grpc.ServiceError) => reject(failed(e)));
          call.on('end', () => (result === undefined ? reject(failed({ code: grpc.status.INTERNAL, details: 'stream ended without a result' } as grpc.ServiceError)) : resolve(result)));
          ctx.signal?.addEventListener('abort', () => call.cancel(), { once: true });
        } else {
          // No waiting for a channel that is down: a service that is down fails fast with
          // Unavailable. A call refused before it was sent (never reached the service, so safe
          // to repeat) gets one more try if the channel reconnects within RECONNECT_WAIT_MS —
          // the service just came back and the back-off had not retried yet.
          const attempt = (retry: boolean) => {
            const call: grpc.ClientUnaryCall = fn(req ?? {}, md, { ...options, waitForReady: false }, (err: grpc.ServiceError | null, res: unknown) => {
              if (!err) return resolve(res);
              if (!retry || err.code !== grpc.status.UNAVAILABLE || !NOT_SENT.test(err.details) || ctx.signal?.aborted) return reject(failed(err));
              const until = Math.min(Date.now() + RECONNECT_WAIT_MS, options.deadline ? Number(options.deadline) : Infinity);
              client.waitForReady(until, (notReady) => (notReady ? reject(failed(err)) : attempt(false)));
            });
            ctx.signal?.addEventListener('abort', () => call.cancel(), { once: true });
          };
          attempt(true);
        }
      }).then(
        (r) => (end({ code: 'OK' }), r),
        (e) => {
          end({ code: statusName(e?.grpcCode) });
          throw e;
        },
      );
    };
  }
  return proxy as T & Closable;
}

export const imageProxy = (address: ProxyAddress, o?: ProxyOptions) => createProxy<ImageService>('image', address, o);
export const storageProxy = (address: ProxyAddress, o?: ProxyOptions) => createProxy<StorageService>('storage', address, o);
export const networkProxy = (address: ProxyAddress, o?: ProxyOptions) => createProxy<NetworkService>('network', address, o);
export const executorProxy = (address: ProxyAddress, o?: ProxyOptions) => createProxy<ExecutorService>('executor', address, o);
