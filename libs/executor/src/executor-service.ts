import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { E, KeyedMutex, type CallContext, type Logger } from '@conga/common';
import type {
  CreateTaskRequest, DeleteTaskRequest, ExecutorService, GetTaskRequest, KillTaskRequest,
  ListTasksRequest, ListTasksResponse, StartTaskRequest, Task, WaitTaskRequest,
  PauseTaskRequest, ResumeTaskRequest, UpdateTaskRequest, StatsTaskRequest, TaskStats, ListPidsRequest, ListPidsResponse,
} from '@conga/api';
import { cgroupPids, readTaskStats } from './cgroup-stats';
import { cgroupOomKills, removeCgroupDirs } from './cgroups';
import { startMonitor } from './conmon';
import { createInteractiveOps } from './exec';
import { ExitWatcher } from './exit-watcher';
import { LogRotator } from './log-rotation';
import { validateContainerId } from './ids';
import { hasCapSysResource, isSameProcess, ownNofileHardLimit, processStartTime } from './procfs';
import { Runc } from './runc';
import { checkRuntime } from './runtime-check';
import { ALL_CAPABILITIES, DEFAULT_CGROUP_PARENT, DEFAULT_NOFILE, generateSpec, ociResources } from './spec';
import { readIntFile, readMeta, TaskFiles, writeMeta, type TaskMeta } from './task-files';

/** Options of {@link createExecutorService}. */
export interface ExecutorOptions {
  /** The executor's run directory, normally `<run>/executor` (tmpfs). */
  runDir: string;
  /** OCI runtime binary (name on PATH or absolute path); default `runc`. */
  runtime?: string;
  /** Monitor binary; default `conmon`. */
  conmon?: string;
  /** cgroup parent for specs that name none; default `/conga`. */
  cgroupParent?: string;
  /** How long conmon may take to report a created container; default 30 s. */
  createTimeoutMs?: number;
  /** Start even with a runc lacking the CVE-2019-5736/CVE-2024-21626 fixes (default: env CONGA_ALLOW_VULNERABLE_RUNTIME=1). */
  allowVulnerableRuntime?: boolean;
  /** Safety-net poll interval of waitTask; default 2 s. */
  waitPollMs?: number;
  log: Logger;
}

/** The in-process executor: an {@link ExecutorService} plus an idempotent close(). */
export type LocalExecutorService = ExecutorService & { close(): Promise<void> };

const MONITOR_GONE = 'the monitor (conmon) exited without recording an exit code';

/** Find an executable by name on PATH (or check an explicit path). */
function resolveBinary(name: string): string | undefined {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return isAbsolute(c) ? c : join(process.cwd(), c);
    } catch {
      /* next */
    }
  }
  return undefined;
}

function conmonLogLevel(log: Logger): string {
  switch (log.level) {
    case 'trace':
    case 'debug':
      return 'debug';
    case 'info':
      return 'info';
    case 'warn':
      return 'warning';
    default:
      return 'error';
  }
}

/** Capabilities in this process's bounding set (CapBnd), by name; undefined if unreadable. */
function boundingCapabilities(): string[] | undefined {
  try {
    const m = readFileSync('/proc/self/status', 'utf8').match(/^CapBnd:\s*([0-9a-f]+)$/m);
    if (!m) return undefined;
    const bits = BigInt(`0x${m[1]}`);
    return ALL_CAPABILITIES.filter((_c, i) => (bits >> BigInt(i)) & 1n);
  } catch {
    return undefined;
  }
}

function emptyTask(id: string): Task {
  return { containerId: id, status: 'UNKNOWN', pid: 0, exitCode: 0, startedAt: '', exitedAt: '', monitorPid: 0, exitReason: '', oomKilled: false };
}

/**
 * Create the in-process executor service (owner: executor). Containers run under conmon in
 * their own sessions, so this process may die or restart at any time; all state is read back
 * from `runDir` (see {@link TaskFiles}). Calls on the same container id are serialized;
 * different ids never wait for each other.
 */
export async function createExecutorService(opts: ExecutorOptions): Promise<LocalExecutorService> {
  const runtime = resolveBinary(opts.runtime ?? 'runc');
  if (!runtime) throw E.ServiceUnavailable('executor', `OCI runtime "${opts.runtime ?? 'runc'}" not found: install runc or set the runtime path`);
  // CVE-2019-5736 / CVE-2024-21626: never drive a runc without the fixes (issue 10).
  await checkRuntime(runtime, { log: opts.log, allow: opts.allowVulnerableRuntime });
  const conmon = resolveBinary(opts.conmon ?? 'conmon');
  if (!conmon) throw E.ServiceUnavailable('executor', `monitor "${opts.conmon ?? 'conmon'}" not found: install conmon or set its path`);
  if (!isAbsolute(opts.runDir)) throw E.InvalidArgument(`executor runDir "${opts.runDir}" must be absolute`);

  const files = new TaskFiles(opts.runDir);
  for (const d of [opts.runDir, files.exitsDir, files.socketsDir, files.runcRoot]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const runc = new Runc(runtime, files.runcRoot);
  const locks = new KeyedMutex();
  const cgroupParent = opts.cgroupParent || DEFAULT_CGROUP_PARENT;
  const createTimeoutMs = opts.createTimeoutMs ?? 30_000;
  // Without CAP_SYS_RESOURCE runc cannot raise RLIMIT_NOFILE above our own hard limit.
  const nofile = hasCapSysResource() ? DEFAULT_NOFILE : Math.min(DEFAULT_NOFILE, ownNofileHardLimit() ?? DEFAULT_NOFILE);
  // Privileged containers get what this host can grant (a kernel may not know every capability).
  const hostCapabilities = boundingCapabilities();
  /** Final states of recently deleted tasks, so that waiters woken by the delete get them. */
  const lastStates = new Map<string, Task>();
  const log = opts.log;

  /** True while the container's init (recorded at create) is alive. */
  function initAlive(meta: TaskMeta, pid: number): boolean {
    if (pid <= 0) return false;
    if (meta.pidStartTime) return isSameProcess(pid, meta.pidStartTime);
    return processStartTime(pid) !== undefined; // task.json from an older executor
  }

  /**
   * Compute a task's state from disk and process liveness alone (no runc call): conmon's exit
   * file, the monitor's and the container init's pid + start time, and what create/start/pause
   * recorded in task.json.
   */
  async function taskState(id: string): Promise<Task> {
    const meta = readMeta(files, id);
    if (!meta) throw E.TaskNotFound(id);
    const base: Task = {
      ...emptyTask(id),
      pid: readIntFile(files.pidFile(id)) ?? 0,
      startedAt: meta.startedAt,
      monitorPid: meta.monitorPid,
      // conmon creates `oom` in its persist dir when the task's memory cgroup hit an OOM kill.
      oomKilled: existsSync(files.oomFile(id)),
    };
    const exited = exitRecord(id);
    // conmon's oom file may come after its exit file (or never, if it exits first): the cgroup's
    // own counter tells too, until deleteTask removes the cgroup.
    const stopped = (ex: NonNullable<typeof exited>): Task => ({ ...base, ...ex, oomKilled: base.oomKilled || existsSync(files.oomFile(id)) || cgroupOomKills(meta.cgroupsPath) > 0 });
    if (exited) return stopped(exited);
    if (!meta.monitorPid) return base; // creation in progress (or interrupted)
    const monitorAlive = isSameProcess(meta.monitorPid, meta.monitorStartTime);
    if (initAlive(meta, base.pid)) {
      if (!monitorAlive) {
        const ex = exitRecord(id);
        if (ex) return stopped(ex);
      }
      const status = !meta.startedAt ? 'CREATED' : meta.paused ? 'PAUSED' : 'RUNNING';
      return { ...base, status, exitReason: monitorAlive ? '' : `${MONITOR_GONE}: the exit code will not be known` };
    }
    if (monitorAlive) {
      // The container is gone and conmon is about to record the exit: give it a moment.
      for (let i = 0; i < 40; i++) {
        await sleep(50);
        const ex = exitRecord(id);
        if (ex) return stopped(ex);
        if (!isSameProcess(meta.monitorPid, meta.monitorStartTime)) break;
      }
    }
    // conmon writes the exit file before it exits: a check after the liveness check is conclusive.
    const ex = exitRecord(id);
    if (ex) return stopped(ex);
    return { ...base, status: 'STOPPED', exitCode: 255, exitReason: MONITOR_GONE, pid: 0 };
  }

  /** Signal the container's init directly (no runc call); false when it is not ours to signal. */
  function killInit(meta: TaskMeta, pid: number, signal = 9): boolean {
    if (!meta.pidStartTime || !isSameProcess(pid, meta.pidStartTime)) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Record the frozen state in task.json (runc is not asked for it). */
  function setPaused(id: string, paused: boolean): void {
    const meta = readMeta(files, id);
    if (meta) writeMeta(files, { ...meta, paused });
  }

  /** True when runc still has state for `id` (its state dir under our private root). */
  function runcKnows(id: string): boolean {
    return existsSync(join(files.runcRoot, id));
  }

  /** STOPPED fields from the exit file conmon wrote (exits dir, or the persist dir copy). */
  function exitRecord(id: string): Pick<Task, 'status' | 'exitCode' | 'exitedAt' | 'pid'> | undefined {
    for (const f of [files.exitFile(id), join(files.taskDir(id), 'exit')]) {
      const code = readIntFile(f);
      if (code === undefined) continue;
      let exitedAt = '';
      try {
        exitedAt = statSync(f).mtime.toISOString();
      } catch {
        /* removed meanwhile */
      }
      return { status: 'STOPPED', exitCode: code, exitedAt, pid: 0 };
    }
    return undefined;
  }

  async function isDone(id: string): Promise<boolean> {
    const meta = readMeta(files, id);
    if (!meta) return true;
    if (exitRecord(id)) return true;
    // monitorPid 0: a create in flight (wait), or one interrupted by a crash (nothing to wait for).
    if (!meta.monitorPid) return !locks.busy(id);
    if (isSameProcess(meta.monitorPid, meta.monitorStartTime)) return false;
    if (exitRecord(id)) return true; // written just before the monitor exited
    return !initAlive(meta, readIntFile(files.pidFile(id)) ?? 0);
  }

  // A previous executor may have died between conmon's report and recording its pid: adopt
  // the monitor from its pid file (no create can be in flight in this fresh instance).
  for (const id of readdirSync(opts.runDir)) {
    const meta = readMeta(files, id);
    if (!meta || meta.monitorPid) continue;
    const pid = readIntFile(files.monitorPidFile(id)) ?? 0;
    const start = processStartTime(pid);
    if (pid > 0 && start && readIntFile(files.pidFile(id))) {
      writeMeta(files, { ...meta, monitorPid: pid, monitorStartTime: start });
      log.info({ id, monitorPid: pid }, 'adopted the monitor of an interrupted create');
    }
  }

  const watcher = new ExitWatcher(files.exitsDir, isDone, opts.waitPollMs ?? 2000);

  /** Wait until `pid` (started at `startTime`) is gone; false on timeout. */
  async function waitGone(pid: number, startTime: string, ms: number): Promise<boolean> {
    for (let waited = 0; waited < ms; waited += 50) {
      if (!isSameProcess(pid, startTime)) return true;
      await sleep(50);
    }
    return !isSameProcess(pid, startTime);
  }

  /** Remove everything a task left: monitor, runc state, cgroups, files. Best effort, idempotent. */
  /** Log rotators of tasks created with a log size limit, by id (resumed after a restart). */
  const rotators = new Map<string, LogRotator>();
  function startRotator(meta: TaskMeta): void {
    if (!meta.logMaxSize || !meta.logPath || rotators.has(meta.id)) return;
    const limits = { path: meta.logPath, maxSize: meta.logMaxSize, maxFiles: meta.logMaxFiles || 1, ctl: join(meta.bundleDir, 'ctl') };
    rotators.set(meta.id, new LogRotator(limits, log).start());
  }
  // A restarted executor resumes rotating the logs of the tasks it finds.
  for (const id of readdirSync(opts.runDir)) {
    const meta = readMeta(files, id);
    if (meta) startRotator(meta);
  }

  async function removeTaskFiles(id: string, meta: TaskMeta | undefined, ctx: CallContext): Promise<void> {
    const monPid = meta?.monitorPid || readIntFile(files.monitorPidFile(id)) || 0;
    const monStart = meta?.monitorStartTime || '';
    await runc.delete(id, true).catch((e) => ctx.log.warn({ err: e, id }, 'runc delete failed during cleanup'));
    if (monPid > 0 && isSameProcess(monPid, monStart)) {
      if (!(await waitGone(monPid, monStart, 5000))) {
        ctx.log.warn({ id, pid: monPid }, 'monitor still alive after the container was removed: killing it');
        try {
          process.kill(monPid, 'SIGKILL');
        } catch {
          /* gone */
        }
        await waitGone(monPid, monStart, 2000);
      }
    }
    if (meta?.cgroupsPath) removeCgroupDirs(meta.cgroupsPath);
    // The monitor is gone: last rotation pass, so the kept files are within the limits.
    const rot = rotators.get(id);
    rotators.delete(id);
    await rot?.finish().catch((err) => ctx.log.warn({ err, id }, 'final log rotation failed'));
    rmSync(files.exitFile(id), { force: true });
    rmSync(files.socketLink(id), { force: true });
    if (meta?.bundleDir) for (const f of ['attach', 'ctl', 'winsz']) rmSync(join(meta.bundleDir, f), { force: true });
    rmSync(files.taskDir(id), { recursive: true, force: true });
  }

  // attach, resize and exec (exec.ts)
  const interactive = createInteractiveOps({ files, runtime, conmon, logLevel: (ctx) => conmonLogLevel(ctx.log), taskState });

  const svc: LocalExecutorService = {
    ...interactive,

    async createTask(req: CreateTaskRequest, ctx: CallContext): Promise<Task> {
      const id = validateContainerId(req.containerId);
      const bundleDir = req.bundleDir ?? '';
      if (!isAbsolute(bundleDir)) throw E.InvalidArgument(`bundle dir "${bundleDir}" must be an absolute path`);
      const logPath = req.logPath ?? '';
      if (logPath && !isAbsolute(logPath)) throw E.InvalidArgument(`log path "${logPath}" must be an absolute path`);
      const logMaxSize = Number(req.logMaxSize ?? 0);
      const logMaxFiles = req.logMaxFiles || 1;
      if (!Number.isSafeInteger(logMaxSize) || logMaxSize < 0) throw E.InvalidArgument(`log max size ${req.logMaxSize} must be a non-negative number of bytes`);
      const spec = generateSpec(id, req.spec ?? {}, { cgroupParent, nofile, hostCapabilities });
      return locks.run(id, async () => {
        if (existsSync(files.taskDir(id)) || runcKnows(id)) throw E.TaskExists(id);
        try {
          mkdirSync(files.taskDir(id), { mode: 0o700 });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw E.TaskExists(id);
          throw e;
        }
        lastStates.delete(id);
        const bundleExisted = existsSync(bundleDir);
        const meta: TaskMeta = {
          id, bundleDir, logPath, cgroupsPath: spec.linux.cgroupsPath, createdAt: new Date().toISOString(),
          monitorPid: 0, monitorStartTime: '', startedAt: '',
          ownPidNs: spec.linux.namespaces.some((n) => n.type === 'pid' && !n.path),
          ...(logPath && logMaxSize ? { logMaxSize, logMaxFiles } : {}),
        };
        try {
          rmSync(files.exitFile(id), { force: true });
          mkdirSync(bundleDir, { recursive: true });
          const cfg = join(bundleDir, 'config.json');
          writeFileSync(`${cfg}.tmp`, JSON.stringify(spec, null, 2));
          renameSync(`${cfg}.tmp`, cfg);
          writeMeta(files, meta);
          const started = await startMonitor({
            conmon, runtime, files, id, bundleDir, logPath,
            terminal: !!req.spec?.process?.terminal, stdin: !!req.stdin, stdinOnce: !!req.stdinOnce,
            logLevel: conmonLogLevel(ctx.log), timeoutMs: createTimeoutMs,
          });
          meta.monitorPid = readIntFile(files.monitorPidFile(id)) ?? 0;
          meta.monitorStartTime = processStartTime(meta.monitorPid) ?? '';
          meta.pidStartTime = processStartTime(started.pid) ?? '';
          writeMeta(files, meta);
          startRotator(meta);
          ctx.log.info({ id, pid: started.pid, monitorPid: meta.monitorPid }, 'task created');
          return { ...emptyTask(id), status: 'CREATED', pid: started.pid, monitorPid: meta.monitorPid };
        } catch (e) {
          let monitorLog = '';
          try {
            monitorLog = readFileSync(files.monitorLog(id), 'utf8').slice(-4000);
          } catch {
            /* none */
          }
          ctx.log.warn({ err: e, id, monitorLog }, 'create failed: cleaning up');
          await removeTaskFiles(id, meta, ctx);
          rmSync(join(bundleDir, 'config.json'), { force: true });
          rmSync(join(bundleDir, 'config.json.tmp'), { force: true });
          if (!bundleExisted) rmSync(bundleDir, { recursive: true, force: true });
          throw e;
        }
      });
    },

    async startTask(req: StartTaskRequest, ctx: CallContext): Promise<Task> {
      const id = validateContainerId(req.containerId);
      return locks.run(id, async () => {
        const t = await taskState(id);
        if (t.status !== 'CREATED') throw E.TaskState(id, `cannot start a task that is ${t.status.toLowerCase()}: only a created task can be started`);
        await runc.start(id);
        const meta = readMeta(files, id);
        if (meta) {
          meta.startedAt = new Date().toISOString();
          writeMeta(files, meta);
        }
        ctx.log.info({ id }, 'task started');
        // The init is running now unless it already exited: only the exit file can tell.
        return { ...t, status: 'RUNNING', startedAt: meta?.startedAt ?? '', ...exitRecord(id) };
      });
    },

    async killTask(req: KillTaskRequest, ctx: CallContext) {
      const id = validateContainerId(req.containerId);
      const signal = req.signal || 15;
      if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw E.InvalidArgument(`invalid signal ${signal}: use 1..64`);
      return locks.run(id, async () => {
        const t = await taskState(id);
        if (t.status === 'STOPPED') throw E.TaskState(id, 'the task is not running');
        // What `runc kill` would do, without running it: a signal for init alone, or SIGKILL for
        // all (init of its own pid namespace: the kernel kills the rest). Frozen tasks go to runc.
        const meta = readMeta(files, id);
        if (meta && t.status !== 'PAUSED' && (!req.all || (signal === 9 && meta.ownPidNs)) && killInit(meta, t.pid, signal)) {
          ctx.log.info({ id, signal, all: !!req.all }, 'task signalled');
          return {};
        }
        try {
          await runc.kill(id, signal, !!req.all);
        } catch (e) {
          const now = await taskState(id).catch(() => undefined);
          if (!now || now.status === 'STOPPED') throw E.TaskState(id, 'the task is not running');
          throw e;
        }
        ctx.log.info({ id, signal, all: !!req.all }, 'task signalled');
        return {};
      });
    },

    async deleteTask(req: DeleteTaskRequest, ctx: CallContext): Promise<Task> {
      const id = validateContainerId(req.containerId);
      return locks.run(id, async () => {
        const meta = readMeta(files, id);
        if (!meta) {
          // Nothing recorded: still clear what runc or conmon may have left (idempotent).
          if (existsSync(files.taskDir(id)) || runcKnows(id)) await removeTaskFiles(id, undefined, ctx);
          rmSync(files.exitFile(id), { force: true });
          return lastStates.get(id) ?? { ...emptyTask(id) };
        }
        let t = await taskState(id);
        if (t.status !== 'STOPPED' && t.status !== 'CREATED' && t.status !== 'UNKNOWN' && !req.force) {
          throw E.TaskState(id, `the task is ${t.status.toLowerCase()}: stop it before deleting it, or use force`);
        }
        if (t.status !== 'STOPPED' && meta.monitorPid) {
          // Kill first and let conmon record the exit, so no exit file appears after the delete.
          // The container always has its own pid namespace: SIGKILL to its init ends every
          // process in it. A paused (frozen) container needs runc to thaw it on the way.
          if (t.status === 'PAUSED' || !meta.ownPidNs || !killInit(meta, t.pid)) await runc.kill(id, 9, true).catch(() => undefined);
          await waitGone(meta.monitorPid, meta.monitorStartTime, 10_000);
          t = await taskState(id);
        }
        await removeTaskFiles(id, meta, ctx);
        lastStates.set(id, t);
        setTimeout(() => lastStates.get(id) === t && lastStates.delete(id), 60_000).unref();
        watcher.check(id);
        ctx.log.info({ id, exitCode: t.exitCode }, 'task deleted');
        return t;
      });
    },

    async getTask(req: GetTaskRequest, _ctx: CallContext): Promise<Task> {
      const id = validateContainerId(req.containerId);
      return taskState(id);
    },

    async listTasks(_req: ListTasksRequest, _ctx: CallContext): Promise<ListTasksResponse> {
      const ids = readdirSync(opts.runDir).filter((n) => existsSync(files.metaFile(n)));
      const tasks: Task[] = [];
      for (const id of ids.sort()) {
        try {
          tasks.push(await taskState(id));
        } catch (e) {
          if (!E.TaskNotFound.is(e)) throw e; // deleted meanwhile
        }
      }
      return { tasks };
    },

    async waitTask(req: WaitTaskRequest, ctx: CallContext): Promise<Task> {
      const id = validateContainerId(req.containerId);
      const first = await taskState(id);
      if (first.status === 'STOPPED') return first;
      await watcher.wait(id, req.timeoutMs ?? 0, ctx.signal);
      try {
        return await taskState(id);
      } catch (e) {
        const last = lastStates.get(id);
        if (E.TaskNotFound.is(e) && last) return last;
        throw e;
      }
    },

    async pauseTask(req: PauseTaskRequest, ctx: CallContext): Promise<Task> {
      const id = validateContainerId(req.containerId);
      return locks.run(id, async () => {
        const t = await taskState(id);
        if (t.status === 'PAUSED') return t;
        if (t.status !== 'RUNNING') throw E.TaskState(id, `cannot pause a task that is ${t.status.toLowerCase()}: it must be running`);
        await runc.pause(id);
        setPaused(id, true);
        ctx.log.info({ id }, 'task paused');
        return taskState(id);
      });
    },

    async resumeTask(req: ResumeTaskRequest, ctx: CallContext): Promise<Task> {
      const id = validateContainerId(req.containerId);
      return locks.run(id, async () => {
        const t = await taskState(id);
        if (t.status !== 'PAUSED') throw E.TaskState(id, `cannot resume a task that is ${t.status.toLowerCase()}: it is not paused`);
        await runc.resume(id);
        setPaused(id, false);
        ctx.log.info({ id }, 'task resumed');
        return taskState(id);
      });
    },

    async updateTask(req: UpdateTaskRequest, ctx: CallContext) {
      const id = validateContainerId(req.containerId);
      const res = ociResources(req.resources, { partial: true });
      return locks.run(id, async () => {
        const t = await taskState(id);
        if (t.status === 'STOPPED') throw E.TaskState(id, 'the task is not running: its limits apply at the next start');
        const file = join(files.taskDir(id), 'update.json');
        writeFileSync(file, JSON.stringify(res));
        try {
          await runc.update(id, file);
        } finally {
          rmSync(file, { force: true });
        }
        ctx.log.info({ id, resources: res }, 'task updated');
        return {};
      });
    },

    async statsTask(req: StatsTaskRequest, _ctx: CallContext): Promise<TaskStats> {
      const id = validateContainerId(req.containerId);
      const meta = readMeta(files, id);
      if (!meta) throw E.TaskNotFound(id);
      const t = await taskState(id);
      if (t.status === 'STOPPED') throw E.TaskState(id, 'the task is not running');
      return readTaskStats(meta.cgroupsPath, t.pid);
    },

    async listPids(req: ListPidsRequest, _ctx: CallContext): Promise<ListPidsResponse> {
      const id = validateContainerId(req.containerId);
      const meta = readMeta(files, id);
      if (!meta) throw E.TaskNotFound(id);
      return { pids: cgroupPids(meta.cgroupsPath) };
    },

    async close(): Promise<void> {
      watcher.close();
      for (const r of rotators.values()) r.close();
      rotators.clear();
      await locks.idle(); // let in-flight create/start/kill/delete finish writing their files
      log.debug('executor closed');
    },
  };
  return svc;
}
