/**
 * A minimal Docker Engine API (v1.41) client over a unix socket with plain node:http.
 * Owner: CLI (apps/conga). No keep-alive, no retries: one CLI call, a few requests.
 * Non-2xx answers become catalog errors carrying the daemon's `{"message": ...}`.
 */
import * as http from 'node:http';
import { E, type CongaError } from './errors';
import type { DaemonHost } from './host';

/** The API version every path is prefixed with. */
export const API_VERSION = '1.41';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** JSON-encoded as the request body. */
  body?: unknown;
  signal?: AbortSignal;
}

/** A started request whose response has not been read yet (for long polls like /wait). */
export interface PendingResponse {
  /** Resolves with the response (status < 400), rejects with a catalog error. */
  response: Promise<http.IncomingMessage>;
  /** Resolves once the request is written to the socket. */
  sent: Promise<void>;
  abort(): void;
}

/** Build `/v1.41<path>?query`, dropping undefined query values. */
export function apiPath(path: string, query?: Query): string {
  let q = '';
  if (query) {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      const s = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(s)}`);
    }
    if (parts.length) q = '?' + parts.join('&');
  }
  return `/v${API_VERSION}${path}${q}`;
}

/** The catalog error for an HTTP error status and the daemon's message. */
export function daemonError(status: number, message: string): CongaError {
  if (status === 404) return E.DaemonNotFound(message);
  if (status === 409) return E.DaemonConflict(message);
  if (status === 400) return E.DaemonBadRequest(message);
  return E.DaemonError(message);
}

/** The message in an error body: `{"message": ...}` JSON, else the text itself. */
export function errorMessage(body: string, status: number): string {
  const text = body.trim();
  try {
    const j = JSON.parse(text) as { message?: unknown };
    if (j && typeof j.message === 'string') return j.message;
  } catch {
    // not JSON: use the text
  }
  return text || `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
}

/** Read a whole response body as text. */
export function readText(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(E.DaemonStreamError('the daemon closed the connection early')));
  });
}

/** The Engine API client used by every command. */
export class ApiClient {
  constructor(readonly host: DaemonHost) {}

  /** Start a request; see {@link PendingResponse}. */
  start(method: string, path: string, opts: RequestOptions = {}): PendingResponse {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: http.OutgoingHttpHeaders = { 'User-Agent': 'conga-cli', Host: 'conga' };
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    } else if (method !== 'GET' && method !== 'HEAD') {
      headers['Content-Length'] = 0;
    }
    const req = http.request({
      socketPath: this.host.socketPath,
      method,
      path: apiPath(path, opts.query),
      headers,
      agent: false,
      signal: opts.signal,
    });
    const sent = new Promise<void>((resolve) => req.on('finish', () => resolve()));
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.connectError(err)));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status < 400) return resolve(res);
        readText(res).then(
          (body) => reject(daemonError(status, errorMessage(body, status))),
          (e) => reject(e),
        );
      });
    });
    req.end(payload);
    return { response, sent, abort: () => req.destroy() };
  }

  /** Send a request and resolve with the (successful) response stream. */
  request(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    return this.start(method, path, opts).response;
  }

  /** Send a request and parse the JSON answer (undefined for an empty body, e.g. 204). */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    const text = await readText(res);
    if (!text.trim()) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw E.DaemonStreamError(`the daemon sent invalid JSON for ${method} ${path}`);
    }
  }

  /** Send a request and discard the answer body. */
  async call(method: string, path: string, opts: RequestOptions = {}): Promise<number> {
    const res = await this.request(method, path, opts);
    res.resume();
    await new Promise<void>((resolve) => {
      res.on('end', resolve);
      res.on('close', resolve);
    });
    return res.statusCode ?? 0;
  }

  private connectError(err: NodeJS.ErrnoException): Error {
    if (err.name === 'AbortError') return err;
    switch (err.code) {
      case 'ECONNREFUSED':
      case 'ENOENT':
      case 'ENOTDIR':
        return E.DaemonUnreachable(this.host.uri);
      case 'EACCES':
      case 'EPERM':
        return E.DaemonPermissionDenied(this.host.uri);
      default:
        return E.DaemonStreamError(`error during connect to ${this.host.uri}: ${err.message}`);
    }
  }
}
