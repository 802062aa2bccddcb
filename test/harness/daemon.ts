import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import type { ServiceName } from '@conga/common';

/** The repository root (tests run from it; CONGA_REPO is set by scripts/test.mjs). */
export const REPO = process.env.CONGA_REPO ?? join(__dirname, '..', '..');
const dist = (app: string) => join(REPO, 'dist', 'apps', app, 'main.js');

export type Mode = 'all-in-one' | 'split';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Daemon {
  readonly mode: Mode;
  readonly root: string;
  readonly run: string;
  readonly socket: string;
  /** Run the bundled `conga` CLI against this daemon. */
  cli(args: string[], opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /** One Engine API request (JSON in, parsed JSON or text out). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** SIGKILL congad (containers must survive). */
  killEngine(): Promise<void>;
  startEngine(): Promise<void>;
  /** Split mode: SIGKILL one service process / start it again. */
  killService(svc: ServiceName): Promise<void>;
  startService(svc: ServiceName): Promise<void>;
  /** Stop every process, remove every container, mount, netns and directory it made. */
  stop(): Promise<void>;
}

function waitExit(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
  });
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000, proc?: ChildProcess, logFile?: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-4000) : '';
  throw new Error(`${what} did not come up${proc?.exitCode != null ? ` (exited ${proc.exitCode})` : ''}\n${log}`);
}

export function apiRequest(socket: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      { socketPath: socket, method, path, headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {}, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json')) {
            try {
              parsed = JSON.parse(text);
            } catch {
              /* streamed JSON lines: keep the text */
            }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

export function runCommand(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.on('close', (code, sig) => {
      clearTimeout(t);
      resolve({ code: code ?? (sig ? 128 + 9 : 1), stdout, stderr });
    });
  });
}

/** Mount points at or below `dir` (deepest first). */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && (mp === dir || mp.startsWith(dir + '/'))) out.push(mp.replace(/\\040/g, ' '));
  }
  return out.sort((a, b) => b.length - a.length);
}

/** runc containers in a runc state root. */
export function runcList(runcRoot: string): Array<{ id: string; status: string; pid: number }> {
  if (!existsSync(runcRoot)) return [];
  const r = spawnSync('runc', ['--root', runcRoot, 'list', '--format', 'json'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout || 'null') ?? []) as Array<{ id: string; status: string; pid: number }>;
}

/**
 * Start congad (and, in split mode, the four service processes first) from the built bundles,
 * with a private --root and --run under /tmp. Paths are short on purpose (unix socket limits).
 */
/**
 * `startTimeoutMs`: how long each process may take to come up (default 30 s; the soak, which runs
 * nice'd beside other work, gives it longer).
 */
export async function startDaemon(opts: { mode?: Mode; config?: Record<string, unknown>; extraArgs?: string[]; startTimeoutMs?: number } = {}): Promise<Daemon> {
  const mode = opts.mode ?? 'all-in-one';
  if (!existsSync(dist('congad'))) throw new Error('dist/ is missing: run `npm run build` first');
  const base = mkdtempSync('/tmp/cg-');
  const root = join(base, 'r');
  const run = join(base, 's');
  const socket = join(run, 'conga.sock');
  const args = ['--root', root, '--run', run];
  // A bridge and subnet of its own, so a test daemon never touches a real conga0.
  const bridge = `cgt${randomBytes(3).toString('hex')}`;
  const config = { bridge, 'fixed-cidr': `10.${200 + randomInt(50)}.${randomInt(256)}.0/24`, ...opts.config };
  writeFileSync(join(base, 'daemon.json'), JSON.stringify(config));
  args.push('--config', join(base, 'daemon.json'));
  const procs = new Map<string, ChildProcess>();
  const env: NodeJS.ProcessEnv = { ...process.env, CONGA_LOG_LEVEL: process.env.CONGA_LOG_LEVEL ?? 'info' };
  delete env.NODE_OPTIONS;

  const startProc = async (name: string, file: string, extra: string[], ready: () => Promise<boolean> | boolean) => {
    const logFile = join(base, `${name}.log`);
    const { openSync } = await import('node:fs');
    const fd = openSync(logFile, 'a');
    const p = spawn(process.execPath, [file, ...args, ...extra], { env, stdio: ['ignore', fd, fd] });
    procs.set(name, p);
    await waitFor(name, ready, opts.startTimeoutMs ?? 30_000, p, logFile);
  };
  const serviceSock = (svc: string) => join(run, 'services', `${svc}.sock`);
  // Up when its unix socket exists or, for a TCP address (daemon.json "service-addresses"), when
  // its metrics socket does (a service serves metrics once its gRPC server is bound).
  const startService = async (svc: ServiceName) =>
    startProc(`${svc}-service`, dist(`${svc}-service`), [], () => existsSync(serviceSock(svc)) || existsSync(join(run, 'services', `${svc}-metrics.sock`)));
  const ping = async () => {
    try {
      return (await apiRequest(socket, 'GET', '/_ping', undefined, 2000)).status === 200;
    } catch {
      return false;
    }
  };
  const startEngine = async () => startProc('congad', dist('congad'), ['--mode', mode, ...(opts.extraArgs ?? [])], ping);
  const kill = async (name: string) => {
    const p = procs.get(name);
    if (!p) return;
    p.kill('SIGKILL');
    await waitExit(p);
    procs.delete(name);
  };

  try {
    if (mode === 'split') {
      await startService('storage');
      await Promise.all((['image', 'network', 'executor'] as ServiceName[]).map(startService));
    }
    await startEngine();
  } catch (e) {
    // A daemon that did not come up (tests start some with bad input on purpose) leaves nothing.
    for (const p of procs.values()) p.kill('SIGKILL');
    await Promise.all([...procs.values()].map(waitExit));
    cleanupState(root, run);
    spawnSync('ip', ['link', 'del', String(config.bridge)], { stdio: 'ignore' });
    rmSync(base, { recursive: true, force: true });
    throw e;
  }

  const d: Daemon = {
    mode,
    root,
    run,
    socket,
    cli: (cliArgs, o = {}) => runCommand(process.execPath, [join(REPO, 'bin', 'conga'), '-H', `unix://${socket}`, ...cliArgs], { timeoutMs: o.timeoutMs, env: { ...process.env, ...o.env } }),
    api: (method, path, body) => apiRequest(socket, method, path, body),
    killEngine: () => kill('congad'),
    startEngine,
    killService: (svc) => kill(`${svc}-service`),
    startService,
    async stop() {
      // Remove the containers through the engine while it runs, so CNI DEL undoes what ADD did
      // (veths, IPAM leases, iptables rules); the raw cleanup below is only the safety net.
      if (procs.has('congad')) {
        try {
          const list = await apiRequest(socket, 'GET', '/containers/json?all=1', undefined, 10_000);
          if (Array.isArray(list.body)) {
            await Promise.all(list.body.map((c: { Id: string }) => apiRequest(socket, 'DELETE', `/containers/${c.Id}?force=1`, undefined, 60_000).catch(() => undefined)));
          }
        } catch {
          /* the engine is not answering: fall back to the raw cleanup */
        }
      }
      for (const [name, p] of procs) {
        p.kill('SIGTERM');
        const t = setTimeout(() => p.kill('SIGKILL'), 5000);
        await waitExit(p);
        clearTimeout(t);
        procs.delete(name);
      }
      cleanupState(root, run);
      purgeCniRules(String(config['fixed-cidr']));
      spawnSync('ip', ['link', 'del', String(config.bridge)], { stdio: 'ignore' });
      rmSync(base, { recursive: true, force: true });
    },
  };
  return d;
}

/**
 * Remove everything a daemon with this root/run may have left: runc containers (and their
 * conmon monitors), mounts (overlays, netns pins), then the directories.
 */
export function cleanupState(root: string, run: string): void {
  const runcRoot = join(run, 'executor', 'runc');
  for (const c of runcList(runcRoot)) {
    spawnSync('runc', ['--root', runcRoot, 'kill', '--all', c.id, 'KILL'], { stdio: 'ignore' });
  }
  for (let i = 0; i < 20 && runcList(runcRoot).some((c) => c.status === 'running'); i++) spawnSync('sleep', ['0.1']);
  for (const c of runcList(runcRoot)) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', c.id], { stdio: 'ignore' });
  // Monitors whose command line names this run dir.
  spawnSync('pkill', ['-9', '-f', `conmon.*${run}/`], { stdio: 'ignore' });
  for (const dir of [run, root]) {
    for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  }
}

/**
 * Delete iptables rules the CNI plugins (bridge ipMasq, firewall, portmap) made for addresses of
 * a test daemon's /24 subnet, and their per-container chains: containers killed without a CNI DEL
 * (an engine that died) would otherwise leave them on the machine.
 */
export function purgeCniRules(cidr: string): void {
  const prefix = cidr.split('/')[0].split('.').slice(0, 3).join('.') + '.';
  const mentions = (line: string) => line.includes(` ${prefix}`) || line.includes(`-s ${prefix}`) || line.includes(`-d ${prefix}`);
  for (const table of ['nat', 'filter']) {
    const r = spawnSync('iptables', ['-t', table, '-S'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const chains = new Set<string>();
    for (const line of r.stdout.split('\n')) {
      if (!line.startsWith('-A ') || !mentions(line)) continue;
      const jump = / -j (CNI-[0-9a-f]{24})\b/.exec(line);
      if (jump) chains.add(jump[1]);
      spawnSync('iptables', ['-t', table, '-D', ...splitRule(line.slice(3))], { stdio: 'ignore' });
    }
    for (const c of chains) {
      spawnSync('iptables', ['-t', table, '-F', c], { stdio: 'ignore' });
      spawnSync('iptables', ['-t', table, '-X', c], { stdio: 'ignore' });
    }
  }
}

/** Split an `iptables -S` rule into argv, honouring double quotes (comments). */
function splitRule(rule: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of rule.matchAll(re)) out.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : m[2]);
  return out;
}
