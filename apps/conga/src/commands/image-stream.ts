/**
 * Shared by the image commands (push, load, import): send a request whose answer is docker's JSON
 * message stream, render it (bars on a TTY, plain lines otherwise) and fail on an error message.
 * Bodies may be streamed from a file or stdin. Owner: image commands (apps/conga).
 */
import * as http from 'node:http';
import type { Readable } from 'node:stream';
import type { ApiClient, Query } from '../client';
import { apiPath, daemonError, errorMessage, readText } from '../client';
import { E } from '../errors';
import { JsonStreamParser } from '../json-stream';
import { ProgressRenderer, type JsonMessage } from '../progress';

export interface StreamOptions {
  query?: Query;
  headers?: Record<string, string>;
  /** Streamed as the request body (application/x-tar). */
  body?: Readable;
  write(s: string): void;
  tty: boolean;
  columns: number;
  /** Called with every message (after rendering), e.g. to collect `aux` or `stream`. */
  onMessage?(m: JsonMessage): void;
}

/** POST `path` and render the JSON message stream until it ends. */
export async function postStream(client: ApiClient, path: string, o: StreamOptions): Promise<void> {
  const headers: http.OutgoingHttpHeaders = { 'User-Agent': 'conga-cli', Host: 'conga', ...o.headers };
  if (o.body) headers['Content-Type'] = 'application/x-tar';
  else headers['Content-Length'] = 0;
  const req = http.request({ socketPath: client.host.socketPath, method: 'POST', path: apiPath(path, o.query), headers, agent: false });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? E.DaemonUnreachable(client.host.uri) : E.DaemonStreamError(`request failed: ${err.message}`)),
    );
    req.on('response', (r) => {
      const status = r.statusCode ?? 0;
      if (status < 400) return resolve(r);
      readText(r).then((body) => reject(daemonError(status, errorMessage(body, status))), reject);
    });
    if (o.body) {
      o.body.on('error', (e) => req.destroy(e));
      o.body.pipe(req);
    } else req.end();
  });
  const parser = new JsonStreamParser();
  const renderer = new ProgressRenderer(o.write, { tty: o.tty, columns: o.columns });
  res.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      res.destroy();
      reject(e);
    };
    res.on('data', (chunk: string) => {
      if (failed) return;
      try {
        for (const m of parser.push(chunk) as JsonMessage[]) {
          renderer.update(m);
          o.onMessage?.(m);
        }
      } catch (e) {
        fail(e instanceof SyntaxError ? E.DaemonStreamError(`the daemon sent a malformed message: ${e.message}`) : e);
      }
    });
    res.on('end', () => (failed ? undefined : resolve()));
    res.on('aborted', () => fail(E.DaemonStreamError('the daemon closed the stream early')));
    res.on('error', fail);
  });
}
