/**
 * Running and timing commands. Owner: benchmarks (bench/).
 *
 * Commands that start containers (`runc run -d`, `podman run -d`) may hand their stdio to a
 * long-lived process, so {@link exec} resolves on the child's exit, not on its pipes closing.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** Outcome of one command. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The environment every timed command gets: no NODE_EXTRA_CA_CERTS (it costs ~100 ms per node start). */
export function benchEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * Run `cmd args`; `capture` keeps stdout (waits for the pipe to close), otherwise stdout is
 * discarded and only stderr is kept until the process exits.
 */
export function exec(cmd: string, args: string[], opts: { capture?: boolean; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { env: opts.env ?? benchEnv(), stdio: ['ignore', opts.capture ? 'pipe' : 'ignore', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => {
      if (stderr.length < 16_384) stderr += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    };
    p.on('error', (e) => {
      stderr += String(e);
      finish(127);
    });
    if (opts.capture) p.on('close', (code, sig) => finish(code ?? (sig ? 137 : 1)));
    else
      p.on('exit', (code, sig) => {
        p.stderr!.destroy();
        finish(code ?? (sig ? 137 : 1));
      });
  });
}

/** Like {@link exec} but throws with the command's stderr when it fails. */
export async function mustExec(cmd: string, args: string[], opts: { capture?: boolean; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ExecResult> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.slice(0, 8).join(' ')}${args.length > 8 ? ' …' : ''} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 2000)}`);
  return r;
}

/** Milliseconds taken by `fn`. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Run `fn(i)` for i in [0, n) all at once; throw the first failure after all settle. */
export async function all(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  const rs = await Promise.allSettled(Array.from({ length: n }, (_, i) => fn(i)));
  const bad = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad.length) throw new Error(`${bad.length} of ${n} failed; first: ${String(bad[0].reason?.message ?? bad[0].reason)}`);
}

/** Poll `check` until it is true (bounded). */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
