/**
 * A tiny fake Engine API server on a unix socket, for the CLI's own tests only (it checks what
 * the client sends and how it renders answers; the real engine is tested elsewhere).
 * Owner: CLI (apps/conga). Not part of the CLI's runtime.
 */
import * as http from 'node:http';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface Recorded {
  method: string;
  /** Path without the /v1.41 prefix and without the query. */
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export type Handler = (req: Recorded, res: http.ServerResponse) => unknown;

export class FakeEngine {
  readonly requests: Recorded[] = [];
  private routes = new Map<string, Handler>();
  private server = http.createServer((req, res) => void this.handle(req, res));
  private waiters: { key: string; resolve: (r: Recorded) => void }[] = [];

  /** Answer `method path` (path without the version prefix) with `h`. */
  on(method: string, path: string, h: Handler): this {
    this.routes.set(`${method} ${path}`, h);
    return this;
  }

  /** Resolves when a request for `method path` arrives (or already did). */
  waitFor(method: string, path: string): Promise<Recorded> {
    const hit = this.requests.find((r) => r.method === method && r.path === path);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve) => this.waiters.push({ key: `${method} ${path}`, resolve }));
  }

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => resolve());
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname.replace(/^\/v\d+\.\d+/, '');
    const text = Buffer.concat(chunks).toString('utf8');
    const rec: Recorded = { method: req.method ?? '', path, query: url.searchParams, body: text ? JSON.parse(text) : undefined };
    this.requests.push(rec);
    const key = `${rec.method} ${path}`;
    for (const w of this.waiters.filter((x) => x.key === key)) w.resolve(rec);
    this.waiters = this.waiters.filter((x) => x.key !== key);
    const h = this.routes.get(key);
    if (!h) return sendJson(res, 404, { message: `page not found: ${key}` });
    await h(rec, res);
  }
}

/** Write a JSON answer. */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Where main.ts is (the repo root comes from $CONGA_REPO, set by `npm test`, else the cwd). */
export const CLI_MAIN = resolve(process.env.CONGA_REPO ?? process.cwd(), 'apps/conga/src/main.ts');

/** Run `conga args...` as a child process (through tsx) and collect its output and status. */
export function runConga(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  onSpawn?: (pid: number) => void,
): Promise<CliResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_EXTRA_CA_CERTS;
  delete childEnv.NODE_TEST_CONTEXT;
  if (!('CONGA_HOST' in env)) delete childEnv.CONGA_HOST;
  if (!('DOCKER_HOST' in env)) delete childEnv.DOCKER_HOST;
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, ...args], {
      cwd: resolve(CLI_MAIN, '../../../..'),
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('spawn', () => onSpawn?.(child.pid ?? 0));
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}
