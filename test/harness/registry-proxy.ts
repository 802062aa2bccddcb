/**
 * Test harness: an HTTP proxy in front of a real registry (./registry.ts) that records requests and
 * can misbehave on purpose: answer with a status (429 with Retry-After, 503), cut a response after
 * N body bytes (to test Range resume), or demand Bearer tokens that its own `/token` endpoint hands
 * out after checking Basic credentials (the distribution token flow, in front of the real registry).
 *
 * Owned by the image-service engineer. Exported signatures are stable; fields may be added.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';

/** What the proxy does with one request (undefined: forward it unchanged). */
export type ProxyAction =
  | { respond: number; headers?: Record<string, string>; body?: string }
  | { cutAfter: number }
  | { redirect: string }
  /** Send N body bytes, then a TCP reset. */
  | { resetAfter: number }
  /** Send N body bytes and end the response cleanly (no Content-Length: a short body). */
  | { shortBody: number }
  /** Forward the body with the byte at `offset` of this response inverted. */
  | { flipByte: number }
  /** Send N body bytes, then nothing more (the connection stays open until the client gives up). */
  | { stallAfter: number }
  /** Send the body `bytes` at a time, one piece every `everyMs`. */
  | { trickle: { bytes: number; everyMs: number } }
  /** Accept the request and never answer it. */
  | { hang: true };

/** A request the proxy saw. */
export interface SeenRequest {
  method: string;
  url: string;
  authorization?: string;
  range?: string;
  /** When it arrived (Date.now()). */
  at: number;
}

/** Options of {@link startRegistryProxy}. */
export interface RegistryProxyOptions {
  /** Decide per request; `n` counts requests with the same method and path so far (1-based). */
  rule?: (req: IncomingMessage, n: number) => ProxyAction | undefined;
  /** Require Bearer tokens from `/token`, which wants these Basic credentials (anonymous: none). */
  bearer?: { username: string; password: string; allowAnonymousPull?: boolean };
  /** Listen address; default 127.0.0.1 (127.0.0.2 works too on Linux for a "different host"). */
  address?: string;
  /** Hold each forwarded request this long before passing it on (so concurrent requests overlap). */
  latencyMs?: number;
}

export interface RegistryProxy {
  /** "ADDRESS:PORT": use as the registry part of references. */
  readonly host: string;
  readonly requests: SeenRequest[];
  /** Token requests: their Authorization header and scopes. */
  readonly tokenRequests: Array<{ authorization?: string; scopes: string[] }>;
  /** Requests open right now (arrived, response not finished). */
  readonly inFlight: number;
  /** The most requests open at once so far (resettable). */
  peakInFlight: number;
  close(): Promise<void>;
}

/** Start a proxy for the registry at `target` ("127.0.0.1:PORT"). */
export async function startRegistryProxy(target: string, opts: RegistryProxyOptions = {}): Promise<RegistryProxy> {
  const requests: SeenRequest[] = [];
  const tokenRequests: Array<{ authorization?: string; scopes: string[] }> = [];
  const counts = new Map<string, number>();
  const tokens = new Map<string, string[]>();
  const [thost, tport] = target.split(':');
  const address = opts.address ?? '127.0.0.1';
  let self = '';
  let inFlight = 0;
  const counters = { peakInFlight: 0 };
  const server: Server = createServer((req, res) => {
    inFlight++;
    counters.peakInFlight = Math.max(counters.peakInFlight, inFlight);
    res.once('close', () => inFlight--);
    if (opts.latencyMs) setTimeout(() => handle(req, res), opts.latencyMs);
    else handle(req, res);
  });
  const handle = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    const url = req.url ?? '/';
    const auth = req.headers.authorization;
    if (opts.bearer && url.startsWith('/token')) {
      const u = new URL(url, 'http://x');
      const scopes = u.searchParams.getAll('scope');
      tokenRequests.push({ authorization: auth, scopes });
      const want = `Basic ${Buffer.from(`${opts.bearer.username}:${opts.bearer.password}`).toString('base64')}`;
      const authed = auth === want;
      if (auth && !authed) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        return res.end('{"details":"incorrect username or password"}');
      }
      const granted = authed ? scopes : opts.bearer.allowAnonymousPull ? scopes.map((s) => s.replace(/:[^:]*$/, ':pull')) : [];
      const t = randomBytes(16).toString('hex');
      tokens.set(t, granted);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ token: t, expires_in: 300 }));
    }
    requests.push({ method: req.method ?? 'GET', url, authorization: auth, range: req.headers.range, at: Date.now() });
    if (opts.bearer) {
      const t = auth?.startsWith('Bearer ') ? auth.slice(7) : '';
      const granted = tokens.get(t);
      const m = /^\/v2\/(.+?)\/(blobs|manifests|tags)\//.exec(url);
      const needs = m ? `repository:${m[1]}:${req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push'}` : '';
      const ok = granted !== undefined && (!needs || granted.some((g) => g.startsWith(`repository:${m![1]}:`) && g.split(':')[2].split(',').includes(needs.split(':')[2])));
      if (!ok) {
        const scope = m ? ` ,scope="repository:${m[1]}:pull"` : '';
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${self}/token",service="conga-test"${scope.replace(' ,', ',')}`, 'Content-Type': 'application/json' });
        return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
    }
    const key = `${req.method} ${url.split('?')[0]}`;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    const action = opts.rule?.(req, n);
    if (action && 'respond' in action) {
      req.resume();
      res.writeHead(action.respond, action.headers ?? {});
      return res.end(action.body ?? '');
    }
    if (action && 'redirect' in action) {
      req.resume();
      res.writeHead(307, { Location: action.redirect });
      return res.end();
    }
    if (action && 'hang' in action) {
      req.resume();
      return;
    }
    const headers = { ...req.headers, host: target };
    if (opts.bearer) delete headers.authorization;
    const up = request({ host: thost, port: Number(tport), method: req.method, path: url, headers }, (ures) => {
      const h = { ...ures.headers };
      if (h.location && h.location.includes(target)) h.location = h.location.replace(target, self);
      if (action && 'shortBody' in action) delete h['content-length'];
      res.writeHead(ures.statusCode ?? 502, h);
      if (action && 'flipByte' in action) {
        let at = 0;
        ures.on('data', (c: Buffer) => {
          const i = action.flipByte - at;
          if (i >= 0 && i < c.length) c = Buffer.from(c).fill(c[i] ^ 0xff, i, i + 1);
          at += c.length;
          res.write(c);
        });
        ures.on('end', () => res.end());
        return;
      }
      if (action && 'trickle' in action) {
        // Re-chunk the upstream body and release it slowly; upstream is paused while we lag.
        const queue: Buffer[] = [];
        let ended = false;
        const timer = setInterval(() => {
          let want = action.trickle.bytes;
          const out: Buffer[] = [];
          while (want > 0 && queue.length) {
            const c = queue[0];
            out.push(c.subarray(0, want));
            if (c.length <= want) queue.shift();
            else queue[0] = c.subarray(want);
            want -= out[out.length - 1].length;
          }
          if (out.length) res.write(Buffer.concat(out));
          if (queue.length === 0) {
            if (ended) {
              clearInterval(timer);
              res.end();
            } else ures.resume();
          }
        }, action.trickle.everyMs);
        res.once('close', () => {
          clearInterval(timer);
          ures.destroy();
        });
        ures.on('data', (c: Buffer) => {
          queue.push(c);
          ures.pause();
        });
        ures.on('end', () => (ended = true));
        return;
      }
      const limit = action && ('resetAfter' in action ? action.resetAfter : 'shortBody' in action ? action.shortBody : 'stallAfter' in action ? action.stallAfter : undefined);
      if (action && limit !== undefined) {
        let sent = 0;
        ures.on('data', (c: Buffer) => {
          if (sent >= limit) return;
          const part = c.subarray(0, limit - sent);
          sent += part.length;
          res.write(part);
          if (sent < limit) return;
          ures.destroy();
          if ('resetAfter' in action) res.socket?.resetAndDestroy();
          else if ('shortBody' in action) res.end();
          // stallAfter: keep the connection open, silent.
        });
        ures.on('end', () => res.end());
        return;
      }
      if (action && 'cutAfter' in action) {
        let sent = 0;
        ures.on('data', (c: Buffer) => {
          if (sent >= action.cutAfter) return;
          const part = c.subarray(0, action.cutAfter - sent);
          sent += part.length;
          res.write(part);
          if (sent >= action.cutAfter) {
            ures.destroy();
            res.socket?.destroy();
          }
        });
        ures.on('end', () => res.end());
        return;
      }
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  self = `${address}:${port}`;
  let closed: Promise<void> | undefined;
  return {
    host: self,
    requests,
    tokenRequests,
    get inFlight() {
      return inFlight;
    },
    get peakInFlight() {
      return counters.peakInFlight;
    },
    set peakInFlight(v: number) {
      counters.peakInFlight = v;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
