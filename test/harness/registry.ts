/**
 * Test harness: a real Docker distribution registry (Debian's `/usr/bin/docker-registry`) on
 * 127.0.0.1 with filesystem storage in a fresh temp dir.
 *
 * Owned by the image-service engineer; used by every end-to-end test in the project. The exported
 * signatures are stable; new optional fields may be added to the options and the returned object.
 *
 * ```ts
 * const reg = await startRegistry();
 * t.after(() => reg.stop());
 * const img = await buildBusyboxImage();
 * const pushed = await pushImage(reg.host, 'busybox', 'latest', img);
 * // pull `${reg.host}/busybox:latest` or `${reg.host}/busybox@${pushed.manifestDigest}`
 * ```
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running registry started by {@link startRegistry}. */
export interface TestRegistry {
  /** "127.0.0.1:PORT": use it as the registry part of references. */
  readonly host: string;
  /** Temp dir holding config.yml, the htpasswd file (if any) and the blob storage (`data/`). */
  readonly dir: string;
  /** Kill the registry and remove `dir`. Idempotent; safe to call from `t.after`. */
  stop(): Promise<void>;
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /**
   * Contents of an htpasswd file (bcrypt entries, one `user:hash` per line; make them with
   * {@link htpasswdEntry}). When set the registry requires HTTP basic auth for everything.
   */
  htpasswd?: string;
}

const REGISTRY_BIN = '/usr/bin/docker-registry';
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test process dies without running its t.after hooks.
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** An htpasswd line `user:<bcrypt hash>` for {@link StartRegistryOptions.htpasswd} (uses perl's crypt). */
export function htpasswdEntry(user: string, password: string): string {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let salt = '';
  for (let i = 0; i < 22; i++) salt += alphabet[Math.floor(Math.random() * alphabet.length)];
  const r = spawnSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, `$2b$05$${salt}`], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.startsWith('$2')) throw new Error(`cannot make a bcrypt hash with perl: ${r.stderr || r.stdout}`);
  return `${user}:${r.stdout}`;
}

function probe(host: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: Number(host.split(':')[1]), path: '/v2/', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

function configYaml(dir: string, port: number, htpasswd: boolean): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    ...(htpasswd ? ['auth:', '  htpasswd:', '    realm: conga-test', `    path: ${join(dir, 'htpasswd')}`] : []),
    '',
  ].join('\n');
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

async function tryStart(dir: string, htpasswd: boolean): Promise<{ child: ChildProcess; host: string } | { retry: string }> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const cfg = join(dir, `config-${port}.yml`);
  await writeFile(cfg, configYaml(dir, port, htpasswd));
  const child = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    if (stderr.length < 8192) stderr += d;
  });
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  // Wait (bounded) until GET /v2/ answers; 200 without auth, 401 with htpasswd.
  for (let i = 0; i < 300; i++) {
    if (spawnError) throw new Error(`cannot run ${REGISTRY_BIN}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      if (/address already in use/i.test(stderr)) return { retry: stderr };
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before serving: ${stderr.trim()}`);
    }
    const status = await probe(host);
    if (status === 200 || status === 401) {
      child.stderr!.resume();
      return { child, host };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await killChild(child);
  throw new Error(`docker-registry on ${host} did not answer GET /v2/ within 15 s: ${stderr.trim()}`);
}

/**
 * Start `/usr/bin/docker-registry serve <dir>/config.yml` on 127.0.0.1 and a free random port,
 * storage in a new temp dir (delete enabled). Resolves once `GET /v2/` answers. Call `stop()`
 * (e.g. in `t.after`) to kill it and remove the dir.
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), 'conga-registry-'));
  try {
    if (opts.htpasswd !== undefined) await writeFile(join(dir, 'htpasswd'), opts.htpasswd.endsWith('\n') ? opts.htpasswd : `${opts.htpasswd}\n`);
    let last = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = await tryStart(dir, opts.htpasswd !== undefined);
      if ('retry' in r) {
        last = r.retry;
        continue;
      }
      const { child, host } = r;
      let stopped: Promise<void> | undefined;
      return {
        host,
        dir,
        stop() {
          stopped ??= (async () => {
            await killChild(child);
            await rm(dir, { recursive: true, force: true });
          })();
          return stopped;
        },
      };
    }
    throw new Error(`docker-registry could not bind a free port after 5 attempts: ${last.trim()}`);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
