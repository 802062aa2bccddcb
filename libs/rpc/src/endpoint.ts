import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { E, layout, type DaemonConfig, type Paths, type ServiceName } from '@conga/common';

/** PEM material for mutual TLS, read once at start. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * Where one split service listens and is reached: a unix socket (default
 * `<run>/services/<svc>.sock`) or TCP, with mutual TLS unless plaintext TCP on loopback was
 * explicitly allowed. Both the service process and its clients derive it from the same
 * daemon.json, so they agree.
 */
export interface Endpoint {
  svc: ServiceName;
  /** As written in daemon.json, or unix://<default socket> (for messages and /info). */
  display: string;
  /** The grpc-js target ("unix:/path" or "host:port"). */
  target: string;
  /** Set for unix sockets. */
  socketPath?: string;
  /** Set for TCP with TLS. */
  tls?: TlsMaterial;
}

const isLoopback = (host: string) => host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';

function readPem(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw E.InvalidConfig('daemon.json', `"service-tls" ${what} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Read (and cache per config) the "service-tls" PEM files. */
const tlsCache = new WeakMap<object, TlsMaterial>();
function tlsMaterial(config: Readonly<DaemonConfig>): TlsMaterial | undefined {
  const t = config['service-tls'];
  if (!t) return undefined;
  let m = tlsCache.get(t);
  if (!m) {
    m = { ca: readPem('ca', t.ca), cert: readPem('cert', t.cert), key: readPem('key', t.key) };
    tlsCache.set(t, m);
  }
  return m;
}

/**
 * The endpoint of `svc` from daemon.json "service-addresses" (`override`: a --socket flag).
 * Refuses, with a message that says what to change: a malformed address, TCP without
 * "service-tls" unless "service-plaintext-tcp" is true and the host is loopback, and TLS files
 * that cannot be read.
 */
export function serviceEndpoint(svc: ServiceName, paths: Paths, config: Readonly<DaemonConfig>, override?: string): Endpoint {
  const raw = override ?? config['service-addresses']?.[svc] ?? `unix://${layout.serviceSocket(paths, svc)}`;
  const bad = (why: string) => E.InvalidConfig('daemon.json', `"service-addresses"."${svc}" = "${raw}": ${why}`);
  const addr = raw.includes('://') ? raw : `unix://${raw}`;
  if (addr.startsWith('unix://')) {
    const path = addr.slice('unix://'.length);
    if (!isAbsolute(path)) throw bad('a unix socket path must be absolute (unix:///run/conga/services/x.sock)');
    return { svc, display: addr, target: `unix:${path}`, socketPath: path };
  }
  if (!addr.startsWith('tcp://')) throw bad('use unix:///path or tcp://host:port');
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw bad('not a valid tcp://host:port address');
  }
  const port = Number(url.port);
  if (!url.hostname || !Number.isInteger(port) || port < 1 || url.pathname.replace(/^\/$/, '') !== '') throw bad('use tcp://host:port with a port from 1 to 65535');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const tls = tlsMaterial(config);
  if (!tls) {
    if (!config['service-plaintext-tcp']) throw bad('TCP needs mutual TLS: set "service-tls" {ca, cert, key} (or "service-plaintext-tcp": true for a loopback address)');
    if (!isLoopback(host)) throw bad('plaintext TCP is only allowed on a loopback address (127.0.0.1, ::1); set "service-tls" for other hosts');
  }
  return { svc, display: addr, target: `${isIP(host) === 6 ? `[${host}]` : host}:${port}`, tls };
}

/** Client credentials: TLS verifying the server against the CA and presenting our certificate. */
export function clientCredentials(ep: Endpoint): grpc.ChannelCredentials {
  return ep.tls ? grpc.credentials.createSsl(ep.tls.ca, ep.tls.key, ep.tls.cert) : grpc.credentials.createInsecure();
}

/** Server credentials: TLS that requires a client certificate signed by the CA. */
export function serverCredentials(ep: Endpoint): grpc.ServerCredentials {
  return ep.tls
    ? grpc.ServerCredentials.createSsl(ep.tls.ca, [{ cert_chain: ep.tls.cert, private_key: ep.tls.key }], true)
    : grpc.ServerCredentials.createInsecure();
}

/** Every service's endpoint (validates the whole "service-addresses" / "service-tls" setup at start). */
export function serviceEndpoints(paths: Paths, config: Readonly<DaemonConfig>): Record<ServiceName, Endpoint> {
  return {
    image: serviceEndpoint('image', paths, config),
    storage: serviceEndpoint('storage', paths, config),
    network: serviceEndpoint('network', paths, config),
    executor: serviceEndpoint('executor', paths, config),
  };
}
