import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { E, type CallContext } from '@conga/common';
import type {
  AttachTarget, AttachTaskRequest, CreateExecRequest, ExecProcess, ExecSyncRequest, ExecSyncResponse,
  ResizeTaskRequest, StartExecRequest, Task, WaitExecRequest,
} from '@conga/api';
import { validateContainerId } from './ids';
import { readIntFile, readMeta, type TaskFiles } from './task-files';

/** Output kept per stream by execSync (and the default). */
export const EXEC_SYNC_MAX_OUTPUT = 16 << 20;

/** What the interactive operations need from the executor. Internal. */
export interface InteractiveDeps {
  files: TaskFiles;
  runtime: string;
  conmon: string;
  logLevel(ctx: CallContext): string;
  taskState(id: string): Promise<Task>;
}

/** The executor's attach/resize/exec methods (see the proto). Internal; spread into the service. */
export interface InteractiveOps {
  attachTask(req: AttachTaskRequest, ctx: CallContext): Promise<AttachTarget>;
  resizeTask(req: ResizeTaskRequest, ctx: CallContext): Promise<Record<string, never>>;
  createExec(req: CreateExecRequest, ctx: CallContext): Promise<ExecProcess>;
  startExec(req: StartExecRequest, ctx: CallContext): Promise<ExecProcess>;
  waitExec(req: WaitExecRequest, ctx: CallContext): Promise<ExecProcess>;
  execSync(req: ExecSyncRequest, ctx: CallContext): Promise<ExecSyncResponse>;
}

/** An exec session whose conmon waits for StartExec (the attach client connects meanwhile). */
interface Pending {
  child: ChildProcess;
  start: Writable;
  sync: LineReader;
  containerId: string;
}

/** `{"data": n, "message": ...}` lines from one of conmon's pipes, read one at a time. */
class LineReader {
  private buf = '';
  private lines: string[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  constructor(private readonly stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('error', () => undefined);
    stream.on('data', (s: string) => {
      this.buf += s;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      this.waiter?.();
    });
    stream.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
    stream.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }
  /** The next message; rejects after `ms` or when the pipe closed first. */
  async next(what: string, ms: number): Promise<{ data: number; message?: string }> {
    const end = Date.now() + ms;
    while (!this.lines.length) {
      if (this.ended) throw E.RuntimeFailed('exec', `the monitor (conmon) closed its pipe before ${what}`);
      const left = end - Date.now();
      if (left <= 0) throw E.RuntimeFailed('exec', `the monitor (conmon) did not report ${what} within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
    const line = this.lines.shift()!;
    try {
      return JSON.parse(line) as { data: number; message?: string };
    } catch {
      throw E.RuntimeFailed('exec', `unexpected report from the monitor: ${line.slice(0, 200)}`);
    }
  }
  close(): void {
    this.stream.destroy();
  }
}

/** Paths of one exec session: `<taskDir>/execs/<execId>/` (conmon's bundle, exit dir, fifos). */
function execDir(files: TaskFiles, cid: string, eid: string): string {
  return join(files.taskDir(cid), 'execs', eid);
}

/** runc's message inside conmon's report, reduced to its msg="..." part. */
function cleanMessage(m: string | undefined): string {
  if (!m) return '';
  const mm = /msg="((?:[^"\\]|\\.)*)"/.exec(m);
  return (mm ? mm[1].replace(/\\"/g, '"') : m).trim();
}

/** Write `1 <h> <w>` to a conmon control fifo (no reader: the monitor is gone). */
function writeResize(ctl: string, height: number, width: number, id: string): void {
  let fd: number;
  try {
    fd = openSync(ctl, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENXIO') throw E.TaskState(id, 'is not running: cannot resize its terminal');
    throw e;
  }
  try {
    writeSync(fd, `1 ${height} ${width}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Parse a k8s-file log into capped stdout/stderr buffers. */
export function parseK8sLog(text: string, max: number): { stdout: Buffer; stderr: Buffer; truncated: boolean } {
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const size = { stdout: 0, stderr: 0 };
  let truncated = false;
  for (const line of text.split('\n')) {
    const m = /^\S+ (stdout|stderr) ([PF]) ?(.*)$/s.exec(line);
    if (!m) continue;
    const s = m[1] as 'stdout' | 'stderr';
    let b = Buffer.from(m[3] + (m[2] === 'F' ? '\n' : ''), 'utf8');
    if (size[s] + b.length > max) {
      truncated = true;
      b = b.subarray(0, Math.max(0, max - size[s]));
    }
    size[s] += b.length;
    if (b.length) out[s].push(b);
  }
  return { stdout: Buffer.concat(out.stdout), stderr: Buffer.concat(out.stderr), truncated };
}

/**
 * Attach, resize and exec for the executor (owner: exec/attach). Exec sessions run `runc exec`
 * under their own conmon (double-forked, so never this process's child once started), with
 * their exit code in `<taskDir>/execs/<execId>/<containerId>` (conmon's naming). Only the short window between
 * createExec(attach) and startExec is held in memory.
 */
export function createInteractiveOps(d: InteractiveDeps): InteractiveOps {
  const { files } = d;
  const pending = new Map<string, Pending>();

  async function requireRunning(cid: string): Promise<void> {
    const t = await d.taskState(cid);
    if (t.status !== 'RUNNING') throw E.TaskState(cid, `is ${t.status === 'PAUSED' ? 'paused' : 'not running'}: start it (or unpause it) first`);
  }

  function execState(cid: string, eid: string): ExecProcess {
    const dir = execDir(files, cid, eid);
    if (!existsSync(dir)) throw E.TaskNotFound(`${cid} (exec ${eid})`);
    const pid = readIntFile(join(dir, 'exec.pid')) ?? readIntFile(join(dir, 'pidfile')) ?? 0;
    const code = readIntFile(join(dir, cid)); // conmon names the exit file after the container
    const base = { containerId: cid, execId: eid, pid, attachSocket: '' };
    if (code !== undefined) return { ...base, running: false, exited: true, exitCode: code };
    const monPid = readIntFile(join(dir, 'conmon.pid')) ?? 0;
    let monitorAlive = false;
    try {
      if (monPid > 0) process.kill(monPid, 0), (monitorAlive = true);
    } catch {
      /* gone */
    }
    if (!monitorAlive && (pid > 0 || monPid > 0) && !pending.has(eid)) {
      // The monitor died without an exit file (only after a crash): report 255.
      const again = readIntFile(join(dir, cid));
      return { ...base, running: false, exited: true, exitCode: again ?? 255 };
    }
    return { ...base, running: pid > 0, exited: false, exitCode: 0 };
  }

  function cleanupExec(cid: string, eid: string): void {
    rmSync(execDir(files, cid, eid), { recursive: true, force: true });
    rmSync(files.socketLink(eid), { force: true });
  }

  const ops: InteractiveOps = {
    async attachTask(req) {
      const cid = validateContainerId(req.containerId);
      const meta = readMeta(files, cid);
      if (!meta) throw E.TaskNotFound(cid);
      const sock = join(files.socketLink(cid), 'attach');
      if (!existsSync(sock)) throw E.TaskState(cid, 'has no attach socket: it is not running');
      let terminal = false;
      try {
        terminal = !!JSON.parse(readFileSync(join(meta.bundleDir, 'config.json'), 'utf8')).process?.terminal;
      } catch {
        /* no config: no terminal */
      }
      return { socketPath: sock, terminal, stdin: true };
    },

    async resizeTask(req) {
      const cid = validateContainerId(req.containerId);
      const h = req.height ?? 0;
      const w = req.width ?? 0;
      if (!h || !w || h > 65535 || w > 65535) throw E.InvalidArgument(`invalid terminal size ${h}x${w}: height and width must be 1..65535`);
      if (req.execId) {
        const eid = validateContainerId(req.execId);
        writeResize(join(execDir(files, cid, eid), 'ctl'), h, w, `${cid} (exec ${eid})`);
      } else {
        const meta = readMeta(files, cid);
        if (!meta) throw E.TaskNotFound(cid);
        writeResize(join(meta.bundleDir, 'ctl'), h, w, cid);
      }
      return {};
    },

    async createExec(req, ctx) {
      const cid = validateContainerId(req.containerId);
      const eid = validateContainerId(req.execId);
      if (eid === cid) throw E.InvalidArgument('an exec id must differ from its container id');
      const args = req.process?.args ?? [];
      if (!args.length) throw E.InvalidArgument('exec needs a command: process.args is empty');
      const meta = readMeta(files, cid);
      if (!meta) throw E.TaskNotFound(cid);
      await requireRunning(cid);
      const dir = execDir(files, cid, eid);
      if (existsSync(dir) || existsSync(files.socketLink(eid))) throw E.TaskExists(`${cid} (exec ${eid})`);
      mkdirSync(join(files.taskDir(cid), 'execs'), { recursive: true, mode: 0o700 });
      mkdirSync(dir, { mode: 0o700 });
      try {
        // The container's process (capabilities, rlimits, no_new_privileges, labels) with the
        // exec's command, environment, directory, user and terminal.
        const base = JSON.parse(readFileSync(join(meta.bundleDir, 'config.json'), 'utf8')).process ?? {};
        const p = req.process!;
        const proc = {
          ...base,
          args,
          env: p.env?.length ? p.env : base.env ?? [],
          cwd: p.cwd || base.cwd || '/',
          user: p.user ? { uid: p.user.uid ?? 0, gid: p.user.gid ?? 0, ...(p.user.additionalGids?.length ? { additionalGids: p.user.additionalGids } : {}) } : base.user,
          terminal: !!p.terminal,
        };
        delete proc.consoleSize;
        const specPath = join(dir, 'process.json');
        writeFileSync(specPath, JSON.stringify(proc));
        const cargs = [
          '--api-version', '1', '-c', cid, '-u', eid, '-n', cid, '-r', d.runtime, '-b', dir,
          '-p', join(dir, 'pidfile'), '-P', join(dir, 'conmon.pid'), '--exit-dir', dir,
          '--socket-dir-path', files.socketsDir, '--log-level', d.logLevel(ctx),
          '--runtime-arg', `--root=${files.runcRoot}`,
          '-l', req.logPath ? `k8s-file:${req.logPath}` : 'none:',
          ...(req.logPath ? ['--log-size-max', String(2 * EXEC_SYNC_MAX_OUTPUT + (1 << 20))] : []),
          '-e', '--exec-process-spec', specPath,
        ];
        if (p.terminal) cargs.push('-t');
        if (req.stdin) cargs.push('-i');
        if (req.timeoutS) cargs.push('-T', String(req.timeoutS));
        if (req.attach) cargs.push('--exec-attach');
        const env: NodeJS.ProcessEnv = {};
        for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('_OCI_')) env[k] = v;
        env._OCI_SYNCPIPE = '3';
        if (req.attach) Object.assign(env, { _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' });
        const errFd = openSync(join(dir, 'conmon.log'), 'a', 0o600);
        let child: ChildProcess;
        try {
          child = spawn(d.conmon, cargs, {
            cwd: dir, // conmon writes an `oom` file into its working directory
            detached: true,
            stdio: req.attach ? ['ignore', errFd, errFd, 'pipe', 'pipe', 'pipe'] : ['ignore', errFd, errFd, 'pipe'],
            env,
          });
        } finally {
          closeSync(errFd);
        }
        child.on('error', () => undefined);
        child.unref();
        const sync = new LineReader(child.stdio[3] as Readable);
        if (!req.attach) {
          const pid = await sync.next('the exec pid', 30_000).finally(() => sync.close());
          if (!(pid.data > 0)) throw E.RuntimeFailed('exec', cleanMessage(pid.message) || `the monitor reported ${pid.data}`);
          writeFileSync(join(execDir(files, cid, eid), 'exec.pid'), String(pid.data));
          ctx.log.info({ cid, eid, pid: pid.data }, 'exec started');
          return { ...execState(cid, eid), pid: pid.data, running: true };
        }
        const start = child.stdio[4] as Writable;
        start.on('error', () => undefined);
        start.write('0'); // conmon's first read: it may now fork and set up the attach socket
        const attach = new LineReader((child.stdio as unknown as Readable[])[5]);
        try {
          const ready = await attach.next('that its attach socket is ready', 15_000);
          if (ready.data < 0) throw E.RuntimeFailed('exec', cleanMessage(ready.message) || 'the attach socket could not be set up');
        } catch (e) {
          start.destroy();
          sync.close();
          if (child.pid) {
            try {
              process.kill(-child.pid, 'SIGKILL');
            } catch {
              /* gone */
            }
          }
          throw e;
        } finally {
          attach.close();
        }
        pending.set(eid, { child, start, sync, containerId: cid });
        // A client that never calls StartExec must not leave a monitor waiting for ever.
        setTimeout(() => {
          const p0 = pending.get(eid);
          if (!p0) return;
          pending.delete(eid);
          p0.start.destroy();
          p0.sync.close();
          const mon = readIntFile(join(dir, 'conmon.pid'));
          if (mon) {
            try {
              process.kill(mon, 'SIGKILL');
            } catch {
              /* gone */
            }
          }
          cleanupExec(cid, eid);
        }, 60_000).unref();
        return { ...execState(cid, eid), attachSocket: join(files.socketLink(eid), 'attach') };
      } catch (e) {
        if (!pending.has(eid)) cleanupExec(cid, eid);
        throw e;
      }
    },

    async startExec(req, ctx) {
      const cid = validateContainerId(req.containerId);
      const eid = validateContainerId(req.execId);
      const p = pending.get(eid);
      if (!p || p.containerId !== cid) {
        const st = execState(cid, eid);
        if (st.pid > 0 || st.exited) return st;
        throw E.TaskState(`${cid} (exec ${eid})`, 'is not waiting to be started: create it with attach first');
      }
      pending.delete(eid);
      p.start.end('1');
      try {
        const pid = await p.sync.next('the exec pid', 30_000);
        if (!(pid.data > 0)) throw E.RuntimeFailed('exec', cleanMessage(pid.message) || `the monitor reported ${pid.data}`);
        writeFileSync(join(execDir(files, cid, eid), 'exec.pid'), String(pid.data));
        ctx.log.info({ cid, eid, pid: pid.data }, 'exec started');
        return { ...execState(cid, eid), pid: pid.data, running: true };
      } finally {
        p.sync.close();
      }
    },

    async waitExec(req, ctx) {
      const cid = validateContainerId(req.containerId);
      const eid = validateContainerId(req.execId);
      const end = req.timeoutMs ? Date.now() + req.timeoutMs : Infinity;
      let delay = 10;
      for (;;) {
        const st = execState(cid, eid);
        if (st.exited) {
          cleanupExec(cid, eid);
          return st;
        }
        if (Date.now() >= end || ctx.signal?.aborted) return st;
        await sleep(Math.min(delay, Math.max(1, end - Date.now())));
        delay = Math.min(delay * 2, 200);
      }
    },

    async execSync(req, ctx) {
      const cid = validateContainerId(req.containerId);
      const max = Math.min(req.maxOutputBytes || EXEC_SYNC_MAX_OUTPUT, EXEC_SYNC_MAX_OUTPUT);
      const eid = randomBytes(32).toString('hex');
      const logDir = join(files.taskDir(cid), 'execs');
      const logPath = join(logDir, `${eid}.log`);
      const t0 = Date.now();
      // The timeout is ours: conmon's -T uses a coarse glib timer that may fire well before a
      // one-second timeout, which would turn a timeout into an ordinary exit 137. conmon still
      // gets a later -T as a backstop for when this process is gone.
      let fired = false;
      let timer: NodeJS.Timeout | undefined;
      try {
        const started = await ops.createExec({ containerId: cid, execId: eid, process: { ...req.process, terminal: false }, stdin: false, attach: false, logPath, timeoutS: req.timeoutS ? req.timeoutS + 2 : 0 }, ctx);
        if (req.timeoutS && started.pid > 0) {
          timer = setTimeout(() => {
            fired = true;
            try {
              process.kill(started.pid, 'SIGKILL');
            } catch {
              /* already gone */
            }
          }, Math.max(0, req.timeoutS * 1000 - (Date.now() - t0)));
        }
        const st = await ops.waitExec({ containerId: cid, execId: eid, timeoutMs: 0 }, ctx);
        clearTimeout(timer);
        let text = '';
        try {
          text = readFileSync(logPath, 'utf8');
        } catch {
          /* no output */
        }
        const out = parseK8sLog(text, max);
        const timedOut = fired || (!!req.timeoutS && Date.now() - t0 >= (req.timeoutS + 2) * 1000);
        return { exitCode: st.exitCode, stdout: out.stdout, stderr: out.stderr, truncated: out.truncated, timedOut };
      } finally {
        clearTimeout(timer);
        rmSync(logPath, { force: true });
      }
    },
  };
  return ops;
}
