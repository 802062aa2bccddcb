import { randomBytes } from 'node:crypto';
import { E, newContext, type CallContext, type Logger } from '@conga/common';
import { connectAttachSocket, type AttachConnection } from '@conga/executor/src/attach-socket';
import type { Containers } from './containers';
import type { Services } from './services';
import { resolveUser } from './user';
import { parseDetachKeys } from './detach-keys';

/** docker's exec create body (POST /containers/{id}/exec). */
export interface ExecConfig {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
}

/** An exec instance (in memory: exec instances do not survive an engine restart, as in dockerd). */
export interface ExecRecord {
  ID: string;
  ContainerID: string;
  Config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  started: boolean;
  /** Resolves once the exit code is known. */
  done?: Promise<void>;
}

/** At most this many finished exec instances are kept for inspection. */
const MAX_FINISHED = 1000;

/**
 * docker exec for the engine (owner: exec/attach): exec instances, their start (attached through
 * the executor's exec session and its attach socket, or detached), inspection and resize. The
 * process itself runs under its own conmon, never under this process.
 */
export class Execs {
  private readonly execs = new Map<string, ExecRecord>();

  constructor(
    private readonly ctrs: Containers,
    private readonly svc: Services,
    private readonly log: Logger,
  ) {}

  /** POST /containers/{id}/exec. */
  create(idOrName: string, body: ExecConfig | undefined): { Id: string } {
    const c = this.ctrs.get(idOrName);
    const cfg = body ?? {};
    if (!Array.isArray(cfg.Cmd) || cfg.Cmd.length === 0 || cfg.Cmd.some((x) => typeof x !== 'string')) {
      throw E.InvalidArgument('No exec command specified: Cmd must be a non-empty array of strings');
    }
    if (cfg.Env != null && (!Array.isArray(cfg.Env) || cfg.Env.some((x) => typeof x !== 'string'))) throw E.InvalidArgument('Env must be an array of strings');
    parseDetachKeys(cfg.DetachKeys);
    if (c.State.Status === 'paused') throw E.ContainerPaused(c.Id);
    if (c.State.Status !== 'running') throw E.ContainerNotRunning(c.Id);
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, { ID: id, ContainerID: c.Id, Config: cfg, Running: false, ExitCode: null, Pid: 0, started: false });
    this.prune();
    return { Id: id };
  }

  get(id: string): ExecRecord {
    const r = this.execs.get(id);
    if (!r) throw E.ExecNotFound(id);
    return r;
  }

  /** GET /exec/{id}/json in docker's shape. */
  inspect(id: string): Record<string, unknown> {
    const r = this.get(id);
    const cmd = r.Config.Cmd ?? [];
    return {
      ID: r.ID, Running: r.Running, ExitCode: r.ExitCode, CanRemove: false, ContainerID: r.ContainerID,
      DetachKeys: r.Config.DetachKeys ?? '', OpenStdin: !!r.Config.AttachStdin, OpenStdout: !!r.Config.AttachStdout,
      OpenStderr: !!r.Config.AttachStderr, Pid: r.Pid,
      ProcessConfig: { tty: !!r.Config.Tty, entrypoint: cmd[0] ?? '', arguments: cmd.slice(1), privileged: !!r.Config.Privileged, user: r.Config.User ?? '' },
    };
  }

  /**
   * Start an exec instance. Detached: resolves once the process runs. Attached: resolves with
   * the connection to its attach socket (no output is lost: the process starts only after the
   * connection); call {@link finish} when the connection closed to record the exit code.
   */
  async start(id: string, detach: boolean, ctx: CallContext): Promise<AttachConnection | undefined> {
    const r = this.get(id);
    if (r.started) throw E.ExecStarted(id);
    r.started = true;
    const c = this.ctrs.get(r.ContainerID);
    if (c.State.Status !== 'running') throw E.ContainerNotRunning(c.Id);
    const cfg = r.Config;
    const user = cfg.User ? await resolveUser(`/proc/${c.State.Pid}/root`, cfg.User) : undefined;
    const process = {
      args: cfg.Cmd ?? [],
      env: [...(c.Config.Env ?? []), ...(cfg.Env ?? [])],
      cwd: cfg.WorkingDir || c.Config.WorkingDir || '/',
      user,
      terminal: !!cfg.Tty,
    };
    const ex = this.svc.executor;
    const attach = !detach;
    const created = await ex.createExec({ containerId: c.Id, execId: id, process, stdin: attach && !!cfg.AttachStdin, attach }, ctx).catch((e) => {
      throw this.startFailed(r, e);
    });
    if (!attach) {
      r.Running = true;
      r.Pid = created.pid;
      void this.finish(id);
      return undefined;
    }
    let conn: AttachConnection;
    try {
      conn = await connectAttachSocket(created.attachSocket);
    } catch (e) {
      // Let the held process run to its end rather than leave it waiting.
      await ex.startExec({ containerId: c.Id, execId: id }, ctx).catch(() => undefined);
      void this.finish(id);
      throw e;
    }
    const started = await ex.startExec({ containerId: c.Id, execId: id }, ctx).catch((e) => {
      conn.close();
      throw this.startFailed(r, e);
    });
    r.Running = true;
    r.Pid = started.pid;
    return conn;
  }

  /**
   * The command could not be started (runc exec failed): record docker's exit code, 127 for a
   * command that does not exist and 126 for one that cannot be executed, and return the error
   * to throw (InvalidArgument for those two: the request named a bad command, not a server fault).
   */
  private startFailed(r: ExecRecord, e: unknown): unknown {
    const code = execStartExitCode(e);
    if (code === undefined) return e;
    r.ExitCode = code;
    r.Running = false;
    r.done = Promise.resolve();
    return E.InvalidArgument((e as Error).message);
  }

  /** Wait for the exec process's exit (once) and record it. */
  finish(id: string): Promise<void> {
    const r = this.get(id);
    if (!r.done) {
      r.done = (async () => {
        const ctx = newContext(this.log);
        for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
          try {
            const st = await this.svc.executor.waitExec({ containerId: r.ContainerID, execId: id, timeoutMs: 0 }, ctx);
            r.ExitCode = st.exitCode;
            break;
          } catch (e) {
            if (E.TaskNotFound.is(e)) {
              // The container (and its sessions) went away.
              r.ExitCode = r.ExitCode ?? 137;
              break;
            }
            ctx.log.warn({ err: e, id }, 'waiting for an exec exit failed; retrying');
            await new Promise((res) => setTimeout(res, delay));
          }
        }
        r.Running = false;
      })();
    }
    return r.done;
  }

  /** POST /exec/{id}/resize. */
  async resize(id: string, h: number, w: number, ctx: CallContext): Promise<void> {
    const r = this.get(id);
    await this.svc.executor.resizeTask({ containerId: r.ContainerID, execId: id, height: h, width: w }, ctx);
  }

  /** Drop the oldest finished instances beyond {@link MAX_FINISHED}. */
  private prune(): void {
    if (this.execs.size <= MAX_FINISHED) return;
    for (const [k, v] of this.execs) {
      if (this.execs.size <= MAX_FINISHED) break;
      if (v.started && !v.Running) this.execs.delete(k);
    }
  }
}

/** docker's exit code for an exec whose command could not start, from runc's message; else undefined. */
export function execStartExitCode(e: unknown): number | undefined {
  if (!E.RuntimeFailed.is(e)) return undefined;
  const m = (e as Error).message;
  if (/executable file not found|no such file or directory/i.test(m)) return 127;
  if (/permission denied|exec format error|is a directory|not a directory/i.test(m)) return 126;
  return undefined;
}
