import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIPv4 } from 'node:net';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { E, HostLimiters, isCongaError, type Logger } from '@conga/common';
import type { Credentials } from './auth-store';
import { DEFAULT_DOMAIN } from './reference';

/** Manifest media types the client asks for, best first. */
export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

const ACCEPT = [MEDIA.dockerManifest, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.ociIndex].join(', ');
const MAX_MANIFEST = 8 << 20;
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

/** Retry policy for 429, 5xx and dropped connections (capped exponential backoff). */
export interface RetryPolicy {
  /** Retries after the first attempt. Default 4. */
  retries: number;
  /** First backoff. Default 500 ms; doubles each time. */
  baseMs: number;
  /** Largest backoff and largest Retry-After honoured. Default 10 000 ms. */
  capMs: number;
}

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** daemon.json insecure-registries: "host[:port]" or IPv4 CIDR; these use plain http. */
  insecureRegistries: readonly string[];
  /** daemon.json registry-mirrors: base URLs tried, in order, before the registry (a list: Docker Hub's; an object: per registry host). */
  mirrors?: readonly string[] | Readonly<Record<string, readonly string[]>>;
  /** Per-registry TLS files: `<certsDir>/<host[:port]>/*.crt` (extra CAs), client.cert + client.key. */
  certsDir?: string;
  /** Stored credentials of a registry domain (only ever sent to that host and its token service). */
  credentials?: (domain: string) => Credentials | undefined;
  log: Logger;
  /** Until response headers arrive (connect included). Default 8000 ms. */
  headerTimeoutMs?: number;
  /** Idle time allowed while a body streams. Default 60000 ms. */
  bodyIdleTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** daemon.json "registry-rate-limits": every request to a limited host waits for its limiter. */
  limits?: HostLimiters;
}

/** Where to reach one repository. */
export interface RepoLocation {
  /** Registry domain from the reference ("docker.io", "127.0.0.1:5000"). */
  domain: string;
  /** Repository path ("library/busybox"). */
  path: string;
  /** Base URL to use instead of the registry's own (a mirror that served the manifest). */
  endpoint?: string;
  /** Credentials for this call only (X-Registry-Auth); else the stored ones. */
  creds?: Credentials;
}

/** A fetched manifest (raw bytes; the digest is computed by the caller). */
export interface FetchedManifest {
  body: Buffer;
  mediaType: string;
  /** Docker-Content-Digest header, if the registry sent one. */
  headerDigest?: string;
  /** The base URL that answered (a mirror or the registry itself). */
  endpoint: string;
}

/** A body that can be produced again (requests are retried after 401/429/5xx). */
type Body = () => Buffer | Readable;

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Scope actions on loc.path: "pull" or "pull,push". */
  actions?: string;
  /** Extra token scopes (cross-repo mount needs pull on the source repo). */
  extraScopes?: string[];
  signal?: AbortSignal;
  /** Follow redirects (GET/HEAD only). */
  redirects?: boolean;
}

function ipv4InCidr(ip: string, cidr: string): boolean {
  const [net, bitsS] = cidr.split('/');
  const bits = Number(bitsS);
  if (!isIPv4(ip) || !isIPv4(net) || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const toInt = (s: string) => s.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(net) & mask);
}

function hostOf(domain: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(domain);
  if (m) return m[1];
  const i = domain.lastIndexOf(':');
  return i === -1 ? domain : domain.slice(0, i);
}

interface RegistryErrorBody {
  errors?: Array<{ code?: string; message?: string }>;
}

function errorCodes(body: string): string[] {
  try {
    const j = JSON.parse(body) as RegistryErrorBody;
    return (j.errors ?? []).map((e) => String(e.code ?? ''));
  } catch {
    return [];
  }
}

/** Parse a WWW-Authenticate challenge: scheme and its quoted/unquoted parameters. */
export function parseChallenge(h: string | undefined): { scheme: string; params: Record<string, string> } | undefined {
  if (!h) return undefined;
  const sp = h.indexOf(' ');
  const scheme = (sp === -1 ? h : h.slice(0, sp)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)=(?:"([^"]*)"|([^,\s]*))/g;
  for (let m = re.exec(h); m; m = re.exec(h)) params[m[1].toLowerCase()] = m[2] ?? m[3] ?? '';
  return { scheme, params };
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(h: string | string[] | undefined, now = Date.now()): number | undefined {
  if (typeof h !== 'string' || h.trim() === '') return undefined;
  if (/^\d+$/.test(h.trim())) return Number(h.trim()) * 1000;
  const t = Date.parse(h);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(E.Canceled('registry request'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(E.Canceled('registry request'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Node's codes for a server certificate that does not verify against the trusted CAs. */
const TLS_TRUST_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A distribution-spec client on Node's http/https (streams, never buffers blobs). Plain http for
 * insecure registries and loopback hosts, https otherwise (system CAs plus a per-registry certs
 * dir). Anonymous, Basic and Bearer auth; tokens cached per registry and scope. Credentials go only
 * to the registry's own origin and to the token realm it names (when that realm is https or on the
 * same host) — never to redirect targets or mirrors. 429/5xx and dropped connections are retried
 * with capped backoff. Owned by the image service; internal to libs/image.
 */
export class RegistryClient {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgents = new Map<string, HttpsAgent>();
  /** Bearer tokens by "origin|scopes". */
  private readonly tokens = new Map<string, string>();
  /** Registries (by origin) known to want Basic auth: send it up front. */
  private readonly basicOrigins = new Set<string>();
  private readonly headerTimeout: number;
  private readonly bodyIdleTimeout: number;
  readonly retry: RetryPolicy;

  constructor(private readonly opts: RegistryClientOptions) {
    this.headerTimeout = opts.headerTimeoutMs ?? 8000;
    this.bodyIdleTimeout = opts.bodyIdleTimeoutMs ?? 60_000;
    this.retry = { retries: 4, baseMs: 500, capMs: 10_000, ...opts.retry };
  }

  /** True when `domain` is reached over plain http. */
  isInsecure(domain: string): boolean {
    const host = hostOf(domain);
    if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return true;
    for (const entry of this.opts.insecureRegistries) {
      if (entry === domain || entry === host) return true;
      if (entry.includes('/') && ipv4InCidr(host, entry)) return true;
    }
    return false;
  }

  /** Base URL of a registry's API. */
  baseUrl(domain: string): string {
    const host = domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
    return `${this.isInsecure(domain) ? 'http' : 'https'}://${host}`;
  }

  /** Base URLs to try for a pull: the registry's mirrors first (a plain list: Docker Hub's, like dockerd), then the registry. */
  endpoints(domain: string): string[] {
    const m = this.opts.mirrors ?? [];
    const list = Array.isArray(m) ? (domain === DEFAULT_DOMAIN ? m : []) : ((m as Readonly<Record<string, readonly string[]>>)[domain] ?? []);
    return [...list.map((u) => u.replace(/\/+$/, '')), this.baseUrl(domain)];
  }

  /** GET a manifest by tag or digest (mirrors first). Maps 404s to ManifestNotFound / RepositoryNotFound. */
  async getManifest(loc: RepoLocation, tagOrDigest: string, displayRef: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const eps = loc.endpoint ? [loc.endpoint] : this.endpoints(loc.domain);
    let lastErr: unknown;
    for (const endpoint of eps) {
      const at = { ...loc, endpoint };
      try {
        const res = await this.send(at, `/v2/${loc.path}/manifests/${tagOrDigest}`, { headers: { Accept: ACCEPT }, signal, redirects: true });
        if (res.statusCode !== 200) await this.fail(at, res, displayRef, 'manifest');
        const len = Number(res.headers['content-length'] ?? 0);
        if (len > MAX_MANIFEST) {
          res.destroy();
          throw E.RegistryError(loc.domain, `manifest of ${displayRef} is ${len} bytes; more than ${MAX_MANIFEST} is refused`);
        }
        const body = await readBody(res, MAX_MANIFEST, loc.domain);
        const ct = String(res.headers['content-type'] ?? '').split(';')[0].trim();
        const hd = res.headers['docker-content-digest'];
        return { body, mediaType: ct, headerDigest: typeof hd === 'string' ? hd : undefined, endpoint };
      } catch (e) {
        if (E.Canceled.is(e) || endpoint === eps[eps.length - 1]) throw e;
        this.opts.log.info({ mirror: endpoint, err: (e as Error).message }, 'mirror failed; trying the next endpoint');
        lastErr = e;
      }
    }
    throw lastErr;
  }

  /**
   * GET a blob from byte `offset` on. Resolves once headers arrived with the stream and the offset
   * it really starts at (0 when the registry ignored the Range header).
   */
  async openBlob(loc: RepoLocation, digest: string, signal?: AbortSignal, offset = 0): Promise<{ res: IncomingMessage; offset: number }> {
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    const res = await this.send(loc, `/v2/${loc.path}/blobs/${digest}`, { headers, signal, redirects: true });
    if (res.statusCode === 206 && offset > 0) {
      const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
      if (m && Number(m[1]) === offset) return { res, offset };
      res.destroy();
      return this.openBlob(loc, digest, signal, 0);
    }
    if (res.statusCode !== 200) await this.fail(loc, res, `${loc.domain}/${loc.path}@${digest}`, 'blob');
    return { res, offset: 0 };
  }

  /** HEAD a blob: its size when the repository has it, undefined on 404. */
  async blobSize(loc: RepoLocation, digest: string, signal?: AbortSignal): Promise<number | undefined> {
    const res = await this.send(loc, `/v2/${loc.path}/blobs/${digest}`, { method: 'HEAD', actions: 'pull,push', signal, redirects: true });
    res.resume();
    if (res.statusCode === 200) return Number(res.headers['content-length'] ?? 0);
    if (res.statusCode === 404) return undefined;
    return this.fail(loc, res, `${loc.domain}/${loc.path}@${digest}`, 'blob');
  }

  /**
   * Start an upload; with `mountFrom` ask to mount the blob from another repository of the same
   * registry. Returns `{ mounted: true }` or the upload URL to send the data to.
   */
  async startUpload(loc: RepoLocation, signal?: AbortSignal, mount?: { digest: string; from: string }): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const res = await this.send(loc, `/v2/${loc.path}/blobs/uploads/${q}`, {
      method: 'POST',
      actions: 'pull,push',
      extraScopes: mount ? [`repository:${mount.from}:pull`] : [],
      headers: { 'Content-Length': '0' },
      body: () => Buffer.alloc(0),
      signal,
    });
    if (res.statusCode === 201 && mount) {
      res.resume();
      return { mounted: true };
    }
    if (res.statusCode !== 202) return this.fail(loc, res, `${loc.domain}/${loc.path}`, 'upload');
    res.resume();
    const where = res.headers.location;
    if (!where) throw E.RegistryError(loc.domain, `no Location header in the answer to POST /v2/${loc.path}/blobs/uploads/`);
    return { mounted: false, location: new URL(where, this.base(loc)) };
  }

  /** PATCH one chunk (bytes `start`..) to an upload; returns the next upload URL. */
  async uploadChunk(loc: RepoLocation, location: URL, data: Buffer, start: number, signal?: AbortSignal): Promise<URL> {
    const res = await this.send(loc, location.href, {
      method: 'PATCH',
      actions: 'pull,push',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length), 'Content-Range': `${start}-${start + data.length - 1}` },
      body: () => data,
      signal,
    });
    if (res.statusCode !== 202) return this.fail(loc, res, `${loc.domain}/${loc.path}`, 'upload');
    res.resume();
    const where = res.headers.location;
    return where ? new URL(where, this.base(loc)) : location;
  }

  /** PUT the end of an upload with the blob's digest (and optionally the whole body: monolithic). */
  async finishUpload(loc: RepoLocation, location: URL, digest: string, body: { size: number; open: Body } | undefined, signal?: AbortSignal): Promise<void> {
    const url = new URL(location.href);
    url.searchParams.set('digest', digest);
    const res = await this.send(loc, url.href, {
      method: 'PUT',
      actions: 'pull,push',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body?.size ?? 0) },
      body: body ? body.open : () => Buffer.alloc(0),
      signal,
    });
    if (res.statusCode !== 201) return this.fail(loc, res, `${loc.domain}/${loc.path}@${digest}`, 'upload');
    res.resume();
  }

  /** PUT a manifest under a tag or digest; returns the digest the registry reports. */
  async putManifest(loc: RepoLocation, tagOrDigest: string, body: Buffer, mediaType: string, signal?: AbortSignal): Promise<string | undefined> {
    const res = await this.send(loc, `/v2/${loc.path}/manifests/${tagOrDigest}`, {
      method: 'PUT',
      actions: 'pull,push',
      headers: { 'Content-Type': mediaType, 'Content-Length': String(body.length) },
      body: () => body,
      signal,
    });
    if (res.statusCode !== 201) return this.fail(loc, res, `${loc.domain}/${loc.path}:${tagOrDigest}`, 'manifest');
    res.resume();
    const d = res.headers['docker-content-digest'];
    return typeof d === 'string' ? d : undefined;
  }

  /**
   * Check credentials like `docker login`: GET /v2/ and complete whatever challenge the registry
   * sends with them. Throws RegistryUnauthorized when they are refused.
   */
  async checkLogin(domain: string, creds: Credentials, signal?: AbortSignal): Promise<void> {
    const loc: RepoLocation = { domain, path: '', creds };
    const res = await this.send(loc, '/v2/', { signal, actions: '', redirects: true });
    res.resume();
    if (res.statusCode === 200) return;
    if (res.statusCode === 401 || res.statusCode === 403) throw E.RegistryUnauthorized(domain, 'incorrect username or password');
    throw E.RegistryError(domain, `HTTP ${res.statusCode} for GET /v2/`);
  }

  /** Drop keep-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    for (const a of this.httpsAgents.values()) a.destroy();
  }

  private base(loc: RepoLocation): string {
    return loc.endpoint ?? this.baseUrl(loc.domain);
  }

  private async fail(loc: RepoLocation, res: IncomingMessage, displayRef: string, what: 'manifest' | 'blob' | 'upload'): Promise<never> {
    const text = (await readBody(res, 64 << 10, loc.domain).catch(() => Buffer.alloc(0))).toString('utf8');
    const codes = errorCodes(text);
    const status = res.statusCode ?? 0;
    if (status === 404 || codes.length > 0) {
      if (codes.includes('NAME_UNKNOWN') && what !== 'upload') throw E.RepositoryNotFound(`${loc.domain}/${loc.path}`);
      if (what === 'manifest' && (status === 404 || codes.includes('MANIFEST_UNKNOWN'))) throw E.ManifestNotFound(displayRef);
    }
    if (status === 401 || status === 403 || codes.includes('UNAUTHORIZED') || codes.includes('DENIED')) {
      if (what === 'upload' || (status === 403 && codes.includes('DENIED'))) throw E.PushDenied(`${loc.domain}/${loc.path}`, `HTTP ${status}; log in with an account allowed to push (conga login ${loc.domain})`);
      throw E.RegistryUnauthorized(loc.domain, `HTTP ${status} for ${displayRef}; log in first (conga login ${loc.domain}) or check the repository name`);
    }
    if (status === 429) throw E.RegistryRateLimited(loc.domain, `still refused after ${this.retry.retries} retries`);
    throw E.RegistryError(loc.domain, `HTTP ${status} for ${what} ${displayRef}${text ? `: ${text.slice(0, 300).trim()}` : ''}`);
  }

  private credsFor(loc: RepoLocation): Credentials | undefined {
    // Mirrors never get the registry's credentials.
    if (loc.endpoint && loc.endpoint !== this.baseUrl(loc.domain)) return undefined;
    return loc.creds ?? this.opts.credentials?.(loc.domain);
  }

  private backoff(attempt: number, res?: IncomingMessage): number {
    const asked = res ? retryAfterMs(res.headers['retry-after']) : undefined;
    const exp = this.retry.baseMs * 2 ** attempt;
    return Math.min(this.retry.capMs, asked ?? exp);
  }

  /** One logical request: auth challenges, redirects (GET/HEAD), retries on 429/5xx/dropped connections. */
  private async send(loc: RepoLocation, pathOrUrl: string, o: SendOptions): Promise<IncomingMessage> {
    const method = o.method ?? 'GET';
    const base = this.base(loc);
    const origin = new URL(base).origin;
    let url = new URL(pathOrUrl, base);
    const actions = o.actions ?? 'pull';
    const scopes = [...(loc.path && actions ? [`repository:${loc.path}:${actions}`] : []), ...(o.extraScopes ?? [])];
    const tokenKey = `${origin}|${scopes.join(' ')}`;
    const creds = this.credsFor(loc);
    let authTried = false;
    let attempt = 0;
    const idempotent = method === 'GET' || method === 'HEAD';
    for (let hop = 0; hop < 16; hop++) {
      const h: Record<string, string> = { 'User-Agent': 'conga/0.1', ...o.headers };
      if (url.origin === origin) {
        const token = creds?.registryToken ?? this.tokens.get(tokenKey);
        if (token) h.Authorization = `Bearer ${token}`;
        else if (creds && this.basicOrigins.has(origin)) h.Authorization = basicHeader(creds);
      }
      let res: IncomingMessage;
      try {
        res = await this.raw(method, url, h, loc.domain, o.body, o.signal);
      } catch (e) {
        if (idempotent && E.RegistryUnreachable.is(e) && attempt < this.retry.retries && !o.signal?.aborted) {
          await sleep(this.backoff(attempt++), o.signal);
          continue;
        }
        throw e;
      }
      const status = res.statusCode ?? 0;
      if (o.redirects && [301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        url = new URL(res.headers.location, url);
        continue;
      }
      if (status === 401 && !authTried && url.origin === origin) {
        const ch = parseChallenge(res.headers['www-authenticate'] as string | undefined);
        if (ch?.scheme === 'basic' && creds) {
          res.resume();
          authTried = true;
          this.basicOrigins.add(origin);
          continue;
        }
        if (ch?.scheme === 'bearer' && ch.params.realm) {
          res.resume();
          authTried = true;
          this.tokens.set(tokenKey, await this.fetchToken(loc.domain, origin, ch.params, scopes, creds, o.signal));
          continue;
        }
      }
      if (RETRY_STATUS.has(status) && attempt < this.retry.retries && (o.body !== undefined || idempotent)) {
        const wait = this.backoff(attempt++, res);
        this.opts.log.info({ url: url.href, status, waitMs: wait }, 'registry asked to retry');
        res.resume();
        await sleep(wait, o.signal);
        continue;
      }
      return res;
    }
    throw E.RegistryError(loc.domain, `too many redirects or retries for ${url.pathname}`);
  }

  private async fetchToken(domain: string, origin: string, params: Record<string, string>, scopes: string[], creds: Credentials | undefined, signal?: AbortSignal): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw E.RegistryError(domain, `bad token realm "${params.realm}" in WWW-Authenticate`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    const want = scopes.length ? scopes : params.scope ? [params.scope] : [];
    for (const s of want) realm.searchParams.append('scope', s);
    const h: Record<string, string> = { 'User-Agent': 'conga/0.1' };
    // Credentials go to the token service only when it is safe: https, or the registry's own host.
    const realmSafe = realm.protocol === 'https:' || realm.hostname === new URL(origin).hostname;
    if (creds && realmSafe) {
      if (creds.identityToken) realm.searchParams.set('refresh_token', creds.identityToken);
      else h.Authorization = basicHeader(creds);
    }
    const res = await this.raw('GET', realm, h, domain, undefined, signal);
    const body = await readBody(res, 1 << 20, domain);
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw E.RegistryUnauthorized(domain, creds ? 'incorrect username or password' : `token service ${realm.origin} refused anonymous access; log in first (conga login ${domain})`);
    }
    if (res.statusCode !== 200) throw E.RegistryUnauthorized(domain, `token service ${realm.origin} answered HTTP ${res.statusCode}`);
    try {
      const j = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string };
      const t = j.token ?? j.access_token;
      if (!t) throw new Error('no token field');
      return t;
    } catch (e) {
      throw E.RegistryError(domain, `token service ${realm.origin} sent an unusable answer: ${(e as Error).message}`);
    }
  }

  private httpsAgent(host: string): HttpsAgent {
    let a = this.httpsAgents.get(host);
    if (a) return a;
    const dir = `${this.opts.certsDir ?? '/etc/conga/certs.d'}/${host}`;
    const tls: { ca?: string[]; cert?: Buffer; key?: Buffer } = {};
    if (existsSync(dir)) {
      const files = readdirSync(dir);
      const cas = files.filter((f) => f.endsWith('.crt')).map((f) => readFileSync(`${dir}/${f}`, 'utf8'));
      if (cas.length) tls.ca = [...rootCertificates, ...cas];
      if (files.includes('client.cert') && files.includes('client.key')) {
        tls.cert = readFileSync(`${dir}/client.cert`);
        tls.key = readFileSync(`${dir}/client.key`);
      }
    }
    a = new HttpsAgent({ keepAlive: true, maxSockets: 16, ...tls });
    this.httpsAgents.set(host, a);
    return a;
  }

  /**
   * One HTTP exchange, within the host's rate limit and concurrency cap (the slot is held until
   * the response body is done, so blob downloads count).
   */
  private async raw(method: string, url: URL, headers: Record<string, string>, domain: string, body: Body | undefined, signal?: AbortSignal): Promise<IncomingMessage> {
    // Keyed by the host contacted, or by the registry's name for its own API host
    // ("docker.io" → registry-1.docker.io); redirect targets (CDNs) only by their own host.
    const limits = this.opts.limits;
    const limiter = limits && (limits.for(url.host) ?? (new URL(this.baseUrl(domain)).host === url.host ? limits.for(domain) : undefined));
    if (!limiter) return this.rawUnlimited(method, url, headers, domain, body, signal);
    const release = await limiter.acquire(signal);
    try {
      const res = await this.rawUnlimited(method, url, headers, domain, body, signal);
      res.once('close', release);
      return res;
    } catch (e) {
      release();
      throw e;
    }
  }

  private rawUnlimited(method: string, url: URL, headers: Record<string, string>, domain: string, body: Body | undefined, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(E.Canceled(`request to ${domain}`));
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? httpsRequest : httpRequest)(url, { method, headers, agent: isHttps ? this.httpsAgent(url.host) : this.httpAgent });
      let settled = false;
      let response: IncomingMessage | undefined;
      // A canceled call stops a request still in flight; a finished one is left alone.
      const onAbort = () => {
        if (!response?.complete) req.destroy(E.Canceled(`request to ${domain}`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      // Idle timeout: covers connect and waiting for headers; relaxed once the body streams.
      req.setTimeout(this.headerTimeout, () => {
        req.destroy(E.RegistryUnreachable(domain, `no answer from ${url.origin}${url.pathname} within ${this.headerTimeout / 1000} s`));
      });
      req.on('response', (res) => {
        settled = true;
        response = res;
        // Readers attach their own error listeners; this one only keeps a late abort from crashing the process.
        res.on('error', () => {});
        req.setTimeout(this.bodyIdleTimeout, () => {
          res.destroy(E.RegistryUnreachable(domain, `download from ${url.origin}${url.pathname} stalled for ${this.bodyIdleTimeout / 1000} s`));
        });
        res.on('close', () => signal?.removeEventListener('abort', onAbort));
        resolve(res);
      });
      req.on('error', (e) => {
        signal?.removeEventListener('abort', onAbort);
        if (settled) return;
        if (isCongaError(e)) return reject(e);
        this.opts.log.debug({ err: e, url: url.href }, 'registry request failed');
        if (isHttps && TLS_TRUST_ERRORS.has((e as NodeJS.ErrnoException).code ?? '')) {
          // Not retried; the agent is dropped so a CA put in place now is read by the next pull.
          this.httpsAgents.delete(url.host);
          return reject(E.RegistryCertUntrusted(domain, `${url.origin}: ${(e as Error).message}`, `${this.opts.certsDir ?? '/etc/conga/certs.d'}/${url.host}/ca.crt`));
        }
        // The path names the blob or manifest that could not be fetched.
        reject(E.RegistryUnreachable(domain, `${url.origin}${url.pathname}: ${(e as Error).message}`));
      });
      if (!body) return void req.end();
      const b = body();
      if (Buffer.isBuffer(b)) req.end(b);
      else {
        b.on('error', (e) => req.destroy(e));
        b.pipe(req);
      }
    });
  }
}

function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** Read a whole (small) body with a size cap. */
export function readBody(res: IncomingMessage, max: number, domain: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        res.destroy(E.RegistryError(domain, `response larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(E.RegistryUnreachable(domain, 'connection closed before the response was complete'));
    });
  });
}

export { Readable };
export type { IncomingHttpHeaders };
