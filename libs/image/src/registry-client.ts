import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIPv4 } from 'node:net';
import { E, type Logger } from '@conga/common';
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

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** daemon.json insecure-registries: "host[:port]" or IPv4 CIDR; these use plain http. */
  insecureRegistries: readonly string[];
  log: Logger;
  /** Until response headers arrive (connect included). Default 8000 ms. */
  headerTimeoutMs?: number;
  /** Idle time allowed while a body streams. Default 60000 ms. */
  bodyIdleTimeoutMs?: number;
}

/** Where to reach one repository. */
export interface RepoLocation {
  /** Registry domain from the reference ("docker.io", "127.0.0.1:5000"). */
  domain: string;
  /** Repository path ("library/busybox"). */
  path: string;
}

/** A fetched manifest (raw bytes; the digest is computed by the caller). */
export interface FetchedManifest {
  body: Buffer;
  mediaType: string;
  /** Docker-Content-Digest header, if the registry sent one. */
  headerDigest?: string;
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

function parseChallenge(h: string | undefined): { scheme: string; params: Record<string, string> } | undefined {
  if (!h) return undefined;
  const sp = h.indexOf(' ');
  const scheme = (sp === -1 ? h : h.slice(0, sp)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)="([^"]*)"/g;
  for (let m = re.exec(h); m; m = re.exec(h)) params[m[1].toLowerCase()] = m[2];
  return { scheme, params };
}

/**
 * A small distribution-spec client on Node's http/https (streams, never buffers blobs).
 * Plain http for insecure registries and loopback hosts, https otherwise; anonymous access and
 * the Bearer token flow. Owned by the image service; internal to libs/image.
 */
export class RegistryClient {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16 });
  /** Bearer tokens by "domain|scope". */
  private readonly tokens = new Map<string, string>();
  private readonly headerTimeout: number;
  private readonly bodyIdleTimeout: number;

  constructor(private readonly opts: RegistryClientOptions) {
    this.headerTimeout = opts.headerTimeoutMs ?? 8000;
    this.bodyIdleTimeout = opts.bodyIdleTimeoutMs ?? 60_000;
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

  /** GET a manifest by tag or digest. Maps 404s to ManifestNotFound / RepositoryNotFound. */
  async getManifest(loc: RepoLocation, tagOrDigest: string, displayRef: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const res = await this.send(loc, `/v2/${loc.path}/manifests/${tagOrDigest}`, { Accept: ACCEPT }, signal);
    if (res.statusCode !== 200) await this.fail(loc, res, displayRef, 'manifest');
    const len = Number(res.headers['content-length'] ?? 0);
    if (len > MAX_MANIFEST) {
      res.destroy();
      throw E.RegistryError(loc.domain, `manifest of ${displayRef} is ${len} bytes; more than ${MAX_MANIFEST} is refused`);
    }
    const body = await readBody(res, MAX_MANIFEST, loc.domain);
    const ct = String(res.headers['content-type'] ?? '').split(';')[0].trim();
    const hd = res.headers['docker-content-digest'];
    return { body, mediaType: ct, headerDigest: typeof hd === 'string' ? hd : undefined };
  }

  /** GET a blob; resolves with the response stream (status 200) once headers arrived. */
  async openBlob(loc: RepoLocation, digest: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const res = await this.send(loc, `/v2/${loc.path}/blobs/${digest}`, {}, signal);
    if (res.statusCode !== 200) await this.fail(loc, res, `${loc.domain}/${loc.path}@${digest}`, 'blob');
    return res;
  }

  /** Drop keep-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async fail(loc: RepoLocation, res: IncomingMessage, displayRef: string, what: 'manifest' | 'blob'): Promise<never> {
    const text = (await readBody(res, 64 << 10, loc.domain).catch(() => Buffer.alloc(0))).toString('utf8');
    const codes = errorCodes(text);
    const status = res.statusCode ?? 0;
    if (status === 404 || codes.length > 0) {
      if (codes.includes('NAME_UNKNOWN')) throw E.RepositoryNotFound(`${loc.domain}/${loc.path}`);
      if (what === 'manifest' && (status === 404 || codes.includes('MANIFEST_UNKNOWN'))) throw E.ManifestNotFound(displayRef);
    }
    if (status === 401 || status === 403 || codes.includes('UNAUTHORIZED') || codes.includes('DENIED')) {
      throw E.RegistryUnauthorized(loc.domain, `HTTP ${status} for ${displayRef}; log in first or check the repository name`);
    }
    throw E.RegistryError(loc.domain, `HTTP ${status} fetching ${what} ${displayRef}${text ? `: ${text.slice(0, 300).trim()}` : ''}`);
  }

  /** One request with Bearer token retry and redirects. */
  private async send(loc: RepoLocation, urlPath: string, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    const scope = `repository:${loc.path}:pull`;
    const key = `${loc.domain}|${scope}`;
    let url = new URL(urlPath, this.baseUrl(loc.domain));
    const origin = url.origin;
    let triedToken = false;
    for (let hop = 0; hop < 8; hop++) {
      const h: Record<string, string> = { 'User-Agent': 'conga/0.1', ...headers };
      const token = this.tokens.get(key);
      if (token && url.origin === origin) h.Authorization = `Bearer ${token}`;
      const res = await this.raw('GET', url, h, loc.domain, signal);
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        url = new URL(res.headers.location, url);
        continue;
      }
      if (status === 401 && !triedToken) {
        const ch = parseChallenge(res.headers['www-authenticate'] as string | undefined);
        if (ch?.scheme === 'bearer' && ch.params.realm) {
          res.resume();
          triedToken = true;
          this.tokens.set(key, await this.fetchToken(loc.domain, ch.params, scope, signal));
          continue;
        }
      }
      return res;
    }
    throw E.RegistryError(loc.domain, `too many redirects for ${urlPath}`);
  }

  private async fetchToken(domain: string, params: Record<string, string>, scope: string, signal?: AbortSignal): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw E.RegistryError(domain, `bad token realm "${params.realm}" in WWW-Authenticate`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? scope);
    const res = await this.raw('GET', realm, { 'User-Agent': 'conga/0.1' }, domain, signal);
    const body = await readBody(res, 1 << 20, domain);
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

  private raw(method: string, url: URL, headers: Record<string, string>, domain: string, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(E.Canceled(`request to ${domain}`));
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? httpsRequest : httpRequest)(url, { method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent });
      let settled = false;
      const onAbort = () => req.destroy(E.Canceled(`request to ${domain}`));
      signal?.addEventListener('abort', onAbort, { once: true });
      // Idle timeout: covers connect and waiting for headers; relaxed once the body streams.
      req.setTimeout(this.headerTimeout, () => {
        req.destroy(E.RegistryUnreachable(domain, `no answer from ${url.origin} within ${this.headerTimeout / 1000} s`));
      });
      req.on('response', (res) => {
        settled = true;
        req.setTimeout(this.bodyIdleTimeout, () => {
          res.destroy(E.RegistryUnreachable(domain, `download from ${url.origin} stalled for ${this.bodyIdleTimeout / 1000} s`));
        });
        res.on('close', () => signal?.removeEventListener('abort', onAbort));
        resolve(res);
      });
      req.on('error', (e) => {
        signal?.removeEventListener('abort', onAbort);
        if (settled) return;
        if ((e as { code?: string }).code?.startsWith('CONGA_ERR_')) return reject(e);
        this.opts.log.debug({ err: e, url: url.href }, 'registry request failed');
        reject(E.RegistryUnreachable(domain, `${url.origin}: ${(e as Error).message}`));
      });
      req.end();
    });
  }
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

export type { IncomingHttpHeaders };
