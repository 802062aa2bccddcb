import { newContext, type CallContext, type Logger } from '@conga/common';
import type { ExecutorService } from '@conga/api';
import type { ContainerRecord, ContainerState, HealthConfig } from './container-types';

/** docker's defaults (ns): interval 30 s, timeout 30 s, start period 0, retries 3. */
const DEFAULT_INTERVAL_NS = 30e9;
const DEFAULT_TIMEOUT_NS = 30e9;
const DEFAULT_RETRIES = 3;
/** Results kept in State.Health.Log, and output kept per result (docker: 5 and 4096 bytes). */
const MAX_LOG = 5;
const MAX_OUTPUT = 4096;

export type HealthState = NonNullable<ContainerState['Health']>;

export interface HealthDeps {
  executor: ExecutorService;
  log: Logger;
  /** Run `fn` under the container's lock with its current record; return false to skip saving. */
  update(id: string, fn: (c: ContainerRecord) => boolean): Promise<ContainerRecord | undefined>;
  /** Publish `health_status: <status>` for the container. */
  emit(c: ContainerRecord, status: string): void;
}

/** The argv a Healthcheck.Test runs, or undefined when there is no check (none, ["NONE"]). */
export function healthArgv(h: HealthConfig | null | undefined): string[] | undefined {
  const t = h?.Test;
  if (!t || t.length === 0) return undefined;
  switch (t[0]) {
    case 'NONE':
      return undefined;
    case 'CMD':
      return t.length > 1 ? t.slice(1) : undefined;
    case 'CMD-SHELL':
      return t.length > 1 && t[1] !== '' ? ['/bin/sh', '-c', t.slice(1).join(' ')] : undefined;
    default:
      // docker's legacy form: a bare command string runs in a shell.
      return ['/bin/sh', '-c', t.join(' ')];
  }
}

/**
 * The container's health check from the image's (Dockerfile HEALTHCHECK) and the request's, like
 * docker: no request check keeps the image's; a request check without Test (only --health-*
 * timings) takes the image's Test; zero timings take the image's; ["NONE"] (--no-healthcheck) wins.
 */
export function mergeHealthcheck(image: HealthConfig | null | undefined, req: HealthConfig | null | undefined): HealthConfig | undefined {
  if (!req) return image ?? undefined;
  if (!image) return req;
  return {
    ...req,
    Test: req.Test?.length ? req.Test : image.Test,
    Interval: req.Interval || image.Interval,
    Timeout: req.Timeout || image.Timeout,
    StartPeriod: req.StartPeriod || image.StartPeriod,
    Retries: req.Retries || image.Retries,
  };
}

/** The state a freshly started container with a health check begins in. */
export function startingHealth(): HealthState {
  return { Status: 'starting', FailingStreak: 0, Log: [] };
}

/**
 * Apply one probe result to a health state like docker: success makes it healthy and clears the
 * streak; a failure inside the start period is logged but not counted; otherwise `retries`
 * consecutive failures make it unhealthy. Returns the new state (the input is not changed).
 */
export function applyProbe(
  prev: HealthState,
  r: { start: Date; end: Date; exitCode: number; output: string },
  inStartPeriod: boolean,
  retries: number,
): HealthState {
  const Log = [...prev.Log, { Start: r.start.toISOString(), End: r.end.toISOString(), ExitCode: r.exitCode, Output: r.output.slice(0, MAX_OUTPUT) }].slice(-MAX_LOG);
  if (r.exitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log };
  if (inStartPeriod && prev.Status === 'starting') return { ...prev, Log };
  const FailingStreak = prev.FailingStreak + 1;
  const Status = FailingStreak >= retries ? 'unhealthy' : prev.Status;
  return { Status, FailingStreak, Log };
}

const ns2ms = (ns: number | undefined, dflt: number) => Math.max(1, Math.round((ns && ns > 0 ? ns : dflt) / 1e6));

/**
 * Runs containers' health checks (Config.Healthcheck) through the executor's execSync, one timer
 * per running container, and records the results in State.Health. The state lives in the
 * container record, so a monitor resumed after an engine restart continues where it was.
 */
export class HealthMonitor {
  private readonly probes = new Map<string, { timer?: NodeJS.Timeout; ac: AbortController }>();
  private closed = false;

  constructor(private readonly deps: HealthDeps) {}

  /** Whether `c` has a health check to run. */
  static wants(c: ContainerRecord): boolean {
    return !!healthArgv(c.Config.Healthcheck);
  }

  /** Start probing `c` (no-op without a check, or when already probing). */
  start(c: ContainerRecord): void {
    if (this.closed || this.probes.has(c.Id) || !HealthMonitor.wants(c)) return;
    const entry = { ac: new AbortController() } as { timer?: NodeJS.Timeout; ac: AbortController };
    this.probes.set(c.Id, entry);
    this.schedule(c.Id, ns2ms(c.Config.Healthcheck?.Interval, DEFAULT_INTERVAL_NS));
  }

  /** Stop probing (container exited, stopped or removed). */
  stop(id: string): void {
    const p = this.probes.get(id);
    if (!p) return;
    if (p.timer) clearTimeout(p.timer);
    p.ac.abort();
    this.probes.delete(id);
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.probes.keys()]) this.stop(id);
  }

  private schedule(id: string, ms: number): void {
    const p = this.probes.get(id);
    if (!p) return;
    p.timer = setTimeout(() => {
      p.timer = undefined;
      void (async () => {
        await this.probe(id, p.ac).catch((err) => this.deps.log.warn({ err, id }, 'health check failed to run'));
        if (this.probes.get(id) !== p || p.ac.signal.aborted) return;
        const iv = await this.intervalOf(id);
        if (this.probes.get(id) !== p || p.ac.signal.aborted) return;
        if (iv === undefined) this.stop(id);
        else this.schedule(id, iv);
      })();
    }, ms);
    p.timer.unref();
  }

  private async intervalOf(id: string): Promise<number | undefined> {
    let iv: number | undefined;
    await this.deps.update(id, (c) => {
      if (c.State.Status === 'running' || c.State.Status === 'paused') iv = ns2ms(c.Config.Healthcheck?.Interval, DEFAULT_INTERVAL_NS);
      return false;
    });
    return iv;
  }

  /** One probe: run the check, then record its result under the container's lock. */
  private async probe(id: string, ac: AbortController): Promise<void> {
    const ctx: CallContext = newContext(this.deps.log, { signal: ac.signal });
    let snapshot: ContainerRecord | undefined;
    await this.deps.update(id, (c) => {
      snapshot = c;
      return false;
    });
    // A paused container is not probed (docker skips it too); a stopped one ends the monitor.
    if (!snapshot || snapshot.State.Status !== 'running') return;
    const h = snapshot.Config.Healthcheck;
    const argv = healthArgv(h);
    if (!argv) return;
    const timeoutMs = ns2ms(h?.Timeout, DEFAULT_TIMEOUT_NS);
    const start = new Date();
    let exitCode: number;
    let output: string;
    try {
      const r = await this.deps.executor.execSync(
        {
          containerId: id,
          process: { args: argv, env: snapshot.Config.Env ?? [], cwd: snapshot.Config.WorkingDir || '/', terminal: false },
          timeoutS: Math.max(1, Math.ceil(timeoutMs / 1000)),
          maxOutputBytes: MAX_OUTPUT,
        },
        ctx,
      );
      const text = Buffer.concat([Buffer.from(r.stdout ?? []), Buffer.from(r.stderr ?? [])]).toString('utf8');
      if (r.timedOut) {
        exitCode = -1;
        output = `Health check exceeded timeout (${timeoutMs / 1000}s)`;
      } else {
        exitCode = r.exitCode;
        output = text;
      }
    } catch (e) {
      if (ac.signal.aborted) return;
      // docker: a check that cannot run counts as a failure (exit code -1).
      exitCode = -1;
      output = (e as Error).message;
    }
    if (ac.signal.aborted) return;
    const end = new Date();
    let changed: string | undefined;
    const c = await this.deps.update(id, (cur) => {
      if (cur.State.Status !== 'running') return false;
      const prev = cur.State.Health ?? startingHealth();
      const started = Date.parse(cur.State.StartedAt);
      const inStart = Number.isFinite(started) && end.getTime() - started < (cur.Config.Healthcheck?.StartPeriod ?? 0) / 1e6;
      const retries = cur.Config.Healthcheck?.Retries && cur.Config.Healthcheck.Retries > 0 ? cur.Config.Healthcheck.Retries : DEFAULT_RETRIES;
      const next = applyProbe(prev, { start, end, exitCode, output }, inStart, retries);
      if (next.Status !== prev.Status) changed = next.Status;
      cur.State.Health = next;
      return true;
    });
    if (c && changed) this.deps.emit(c, changed);
  }
}
