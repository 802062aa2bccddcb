import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  E, KeyedMutex, isCongaError, layout, newContext, toCongaError,
  type CallContext, type DaemonConfig, type Logger, type Paths,
} from '@conga/common';
import type { Image, Task } from '@conga/api';
import { ContainerStore } from './container-store';
import { initialState, ZERO_TIME, type ContainerConfig, type ContainerRecord, type HostConfig } from './container-types';
import { newContainerId, randomName, validateName } from './names';
import { parseSignal } from './signals';
import { resolveUser } from './user';
import type { Services } from './services';
import { readLogs, type LogReadOptions, type LogRecord } from './logs';

export interface ContainersOptions {
  paths: Paths;
  config: Readonly<DaemonConfig>;
  services: Services;
  log: Logger;
  /** Network used when HostConfig.NetworkMode is empty, "default" or "bridge". */
  defaultNetwork: string;
}

export interface CreateContainerBody extends ContainerConfig {
  HostConfig?: HostConfig;
}

type ContainerEvent = 'create' | 'start' | 'die' | 'stop' | 'kill' | 'destroy';

/**
 * The engine's container lifecycle: metadata in SQLite, one lock per container, and the four
 * services doing the work (storage: rootfs, network: netns/CNI, executor: runc via conmon).
 * Every step that can fail is undone on failure, so a failed start leaves no mount, netns or
 * runc state. Exits are learned from executor.waitTask, so they survive engine restarts.
 */
export class Containers extends EventEmitter {
  readonly store: ContainerStore;
  private readonly locks = new KeyedMutex();
  private readonly watching = new Map<string, AbortController>();
  private readonly attached = new Map<string, Set<Promise<unknown>>>();
  private closed = false;
  private readonly svc: Services;
  private readonly log: Logger;

  constructor(private readonly opts: ContainersOptions) {
    super();
    this.setMaxListeners(0);
    this.svc = opts.services;
    this.log = opts.log;
    this.store = new ContainerStore(layout.engineDir(opts.paths));
  }

  containerDir(id: string): string {
    return join(layout.engineDir(this.opts.paths), 'containers', id);
  }

  logPath(id: string): string {
    return join(this.containerDir(id), 'ctr.log');
  }

  private emitEvent(action: ContainerEvent, c: ContainerRecord, extra: Record<string, string> = {}): void {
    this.emit('event', { Type: 'container', Action: action, id: c.Id, Actor: { ID: c.Id, Attributes: { name: c.Name, image: c.Image, ...extra } }, time: Math.floor(Date.now() / 1000), timeNano: Date.now() * 1e6 });
  }

  /** docker create: resolve the image, record the container and prepare its rootfs. */
  async create(body: CreateContainerBody, name: string | undefined, ctx: CallContext): Promise<{ Id: string; Warnings: string[] }> {
    if (!body || typeof body.Image !== 'string' || body.Image === '') throw E.InvalidArgument('config.Image is required: name the image to create the container from');
    for (const k of ['Cmd', 'Entrypoint', 'Env'] as const) {
      const v = body[k];
      if (v != null && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) throw E.InvalidArgument(`config.${k} must be an array of strings`);
    }
    const hc: HostConfig = body.HostConfig ?? {};
    if (hc.AutoRemove && hc.RestartPolicy?.Name && !['', 'no'].includes(hc.RestartPolicy.Name)) {
      throw E.InvalidArgument('conflicting options: cannot both remove and restart containers (--rm and --restart)');
    }
    const fixedName = name ? validateName(name) : undefined;
    const image = await this.svc.image.getImage({ reference: body.Image }, ctx);
    const imgCfg = parseImageConfig(image);
    // docker's rules: a given Entrypoint replaces the image's and drops the image's Cmd.
    const entrypoint = body.Entrypoint != null ? body.Entrypoint : (imgCfg.Entrypoint ?? []);
    const cmd = body.Cmd && body.Cmd.length ? body.Cmd : body.Entrypoint != null ? [] : (imgCfg.Cmd ?? []);
    const argv = [...(entrypoint ?? []), ...cmd];
    if (argv.length === 0) throw E.InvalidArgument('no command specified: the image has no Cmd or Entrypoint, give one');
    const id = newContainerId();
    const env = mergeEnv(imgCfg.Env ?? [], body.Env ?? []);
    const rec: ContainerRecord = {
      Id: id,
      Name: fixedName ?? randomName(),
      Created: new Date().toISOString(),
      Image: body.Image,
      ImageID: image.id,
      Path: argv[0],
      Args: argv.slice(1),
      Config: {
        ...body,
        HostConfig: undefined,
        Image: body.Image,
        Cmd: cmd,
        Entrypoint: entrypoint.length ? entrypoint : null,
        Env: env,
        WorkingDir: body.WorkingDir || imgCfg.WorkingDir || '',
        User: body.User || imgCfg.User || '',
        Hostname: body.Hostname || id.slice(0, 12),
        Labels: { ...(imgCfg.Labels ?? {}), ...(body.Labels ?? {}) },
        StopSignal: body.StopSignal || imgCfg.StopSignal || 'SIGTERM',
      } as ContainerConfig,
      HostConfig: { NetworkMode: 'default', RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, LogConfig: { Type: this.opts.config['log-driver'], Config: {} }, ...hc },
      State: initialState(),
      RestartCount: 0,
      ChainID: image.chainIds[image.chainIds.length - 1] ?? '',
    };
    delete (rec.Config as { HostConfig?: unknown }).HostConfig;
    // A random name may collide; retry with another (a given name may not).
    for (let attempt = 0; ; attempt++) {
      try {
        this.store.insert(rec);
        break;
      } catch (e) {
        if (fixedName || !E.ContainerNameInUse.is(e) || attempt > 20) throw e;
        rec.Name = randomName(attempt + 1);
      }
    }
    try {
      mkdirSync(this.containerDir(id), { recursive: true, mode: 0o700 });
      await this.svc.storage.createRootfs({ containerId: id, chainId: rec.ChainID }, ctx);
    } catch (e) {
      this.store.remove(id);
      rmSync(this.containerDir(id), { recursive: true, force: true });
      throw e;
    }
    this.emitEvent('create', rec);
    ctx.log.info({ id, name: rec.Name, image: rec.Image }, 'container created');
    return { Id: id, Warnings: [] };
  }

  get(idOrName: string): ContainerRecord {
    return this.store.find(idOrName);
  }

  list(all: boolean): ContainerRecord[] {
    const rows = this.store.list();
    return all ? rows : rows.filter((c) => c.State.Status === 'running' || c.State.Status === 'paused' || c.State.Status === 'restarting');
  }

  private networkFor(c: ContainerRecord): string {
    const m = c.HostConfig.NetworkMode ?? '';
    return m === '' || m === 'default' || m === 'bridge' ? this.opts.defaultNetwork : m;
  }

  /** docker start. Returns false when the container was already running (HTTP 304). */
  async start(idOrName: string, ctx: CallContext): Promise<boolean> {
    const { Id: id } = this.store.find(idOrName);
    return this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c) throw E.ContainerNotFound(idOrName);
      if (c.State.Status === 'running' || c.State.Status === 'paused') return false;
      if (c.State.Status === 'removing') throw E.TaskState(id, 'the container is being removed');
      const undo: Array<() => Promise<unknown>> = [];
      try {
        const rootfs = await this.svc.storage.mountRootfs({ containerId: id }, ctx);
        undo.push(() => this.svc.storage.unmountRootfs({ containerId: id }, ctx));
        const dir = this.containerDir(id);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const att = await this.svc.network.attach(
          { containerId: id, network: this.networkFor(c), hostname: c.Config.Hostname, filesDir: dir, dns: c.HostConfig.Dns ?? [], dnsSearch: c.HostConfig.DnsSearch ?? [], extraHosts: c.HostConfig.ExtraHosts ?? [] },
          ctx,
        );
        undo.push(() => this.svc.network.detach({ containerId: id }, ctx));
        const user = await resolveUser(rootfs.mountPath, c.Config.User);
        // A container that ran before still has its stopped task: clear it.
        await this.svc.executor.deleteTask({ containerId: id, force: true }, ctx).catch(() => undefined);
        const mounts = [
          ['/etc/hosts', att.hostsPath],
          ['/etc/hostname', att.hostnamePath],
          ['/etc/resolv.conf', att.resolvConfPath],
        ]
          .filter(([, src]) => !!src)
          .map(([destination, source]) => ({ destination, source, type: 'bind', options: ['rbind', 'rprivate'] }));
        const logDriver = c.HostConfig.LogConfig?.Type ?? 'json-file';
        await this.svc.executor.createTask(
          {
            containerId: id,
            bundleDir: dir,
            logPath: logDriver === 'none' ? '' : this.logPath(id),
            spec: {
              process: { args: [c.Path, ...c.Args], env: c.Config.Env ?? [], cwd: c.Config.WorkingDir || '/', user, terminal: !!c.Config.Tty },
              rootfs: rootfs.mountPath,
              readonlyRootfs: !!c.HostConfig.ReadonlyRootfs,
              hostname: c.Config.Hostname,
              netnsPath: att.netnsPath || (this.networkFor(c) === 'host' ? 'host' : ''),
              mounts,
              annotations: { 'io.conga.container.name': c.Name },
              cgroupParent: this.opts.config['cgroup-parent'],
              privileged: !!c.HostConfig.Privileged,
              capAdd: c.HostConfig.CapAdd ?? [],
              capDrop: c.HostConfig.CapDrop ?? [],
            },
          },
          ctx,
        );
        undo.push(() => this.svc.executor.deleteTask({ containerId: id, force: true }, ctx));
        const task = await this.svc.executor.startTask({ containerId: id }, ctx);
        this.store.setState(c, { Status: 'running', Pid: task.pid, ExitCode: 0, Error: '', StartedAt: task.startedAt || new Date().toISOString(), FinishedAt: ZERO_TIME });
      } catch (e) {
        for (const u of undo.reverse()) await u().catch((err) => ctx.log.warn({ err, id }, 'undo after failed start'));
        const err = toCongaError(e);
        this.store.setState(c, { Status: c.State.Status === 'created' ? 'created' : 'exited', Error: err.message, ExitCode: /not found|no such file|executable file/i.test(err.message) ? 127 : 128 });
        if (c.HostConfig.AutoRemove) await this.removeNow(c, ctx).catch(() => undefined);
        throw e;
      }
      this.emitEvent('start', c);
      this.emit(`start:${id}`);
      this.watch(id);
      return true;
    });
  }

  /** Follow the task until it exits (retrying while the executor is unreachable). */
  private watch(id: string): void {
    if (this.watching.has(id)) return;
    const ac = new AbortController();
    this.watching.set(id, ac);
    const ctx = newContext(this.log, { signal: ac.signal });
    void (async () => {
      let delay = 200;
      while (!ac.signal.aborted && !this.closed) {
        try {
          const task = await this.svc.executor.waitTask({ containerId: id, timeoutMs: 0 }, ctx);
          if (task.status === 'STOPPED') {
            this.watching.delete(id);
            await this.handleExit(id, task, ctx);
            return;
          }
        } catch (e) {
          if (ac.signal.aborted || this.closed) break;
          if (E.TaskNotFound.is(e)) {
            this.watching.delete(id);
            await this.handleExit(id, { exitCode: 255, exitReason: 'the container task disappeared' }, ctx);
            return;
          }
          ctx.log.warn({ err: e, id }, 'waiting for container exit failed; retrying');
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 5000);
        }
      }
      this.watching.delete(id);
    })();
  }

  /** Record an exit, release the container's resources and apply --rm. */
  private async handleExit(id: string, task: Partial<Task>, ctx: CallContext): Promise<void> {
    const c = await this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c || (c.State.Status !== 'running' && c.State.Status !== 'paused')) return undefined;
      await this.releaseResources(id, ctx);
      this.store.setState(c, {
        Status: 'exited',
        Pid: 0,
        ExitCode: task.exitCode ?? 255,
        FinishedAt: task.exitedAt || new Date().toISOString(),
        Error: task.exitReason ?? '',
      });
      return c;
    });
    if (!c) return;
    this.emitEvent('die', c, { exitCode: String(c.State.ExitCode) });
    this.emit(`exit:${id}`, c.State.ExitCode);
    if (c.HostConfig.AutoRemove) {
      // Let attached clients drain the output first.
      await Promise.allSettled([...(this.attached.get(id) ?? [])]);
      await this.remove(id, { force: true }, ctx).catch((err) => ctx.log.warn({ err, id }, 'auto-remove failed'));
    }
  }

  private async releaseResources(id: string, ctx: CallContext): Promise<void> {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['delete task', () => this.svc.executor.deleteTask({ containerId: id, force: true }, ctx)],
      ['detach network', () => this.svc.network.detach({ containerId: id }, ctx)],
      ['unmount rootfs', () => this.svc.storage.unmountRootfs({ containerId: id }, ctx)],
    ];
    for (const [what, f] of steps) {
      await f().catch((err) => {
        if (!E.TaskNotFound.is(err) && !E.RootfsNotFound.is(err)) ctx.log.warn({ err, id }, `${what} failed`);
      });
    }
  }

  /** docker kill. */
  async kill(idOrName: string, signal: string | undefined, ctx: CallContext): Promise<void> {
    const c = this.store.find(idOrName);
    if (c.State.Status !== 'running' && c.State.Status !== 'paused') throw E.ContainerNotRunning(c.Id);
    const sig = parseSignal(signal, 9);
    await this.svc.executor.killTask({ containerId: c.Id, signal: sig, all: sig === 9 }, ctx);
    this.emitEvent('kill', c, { signal: String(sig) });
  }

  /** docker stop: StopSignal, then SIGKILL after `timeout` seconds. False if not running (304). */
  async stop(idOrName: string, timeout: number | undefined, ctx: CallContext): Promise<boolean> {
    const c = this.store.find(idOrName);
    if (c.State.Status !== 'running' && c.State.Status !== 'paused') return false;
    const t = timeout ?? c.Config.StopTimeout ?? 10;
    const exited = this.exitOf(c.Id);
    const sig = parseSignal(c.Config.StopSignal, 15);
    try {
      await this.svc.executor.killTask({ containerId: c.Id, signal: sig, all: false }, ctx);
    } catch (e) {
      ctx.log.info({ err: e }, 'stop signal failed; killing');
    }
    if (!(await withTimeout(exited, t * 1000))) {
      await this.svc.executor.killTask({ containerId: c.Id, signal: 9, all: true }, ctx).catch(() => undefined);
      if (!(await withTimeout(exited, 30_000))) throw E.Timeout(`stopping container ${c.Id}`);
    }
    this.emitEvent('stop', c);
    return true;
  }

  /** Resolves when the container's current run ends (immediately if it is not running). */
  private exitOf(id: string): Promise<void> {
    return new Promise((resolve) => {
      const c = this.store.get(id);
      if (!c || (c.State.Status !== 'running' && c.State.Status !== 'paused')) return resolve();
      this.once(`exit:${id}`, () => resolve());
    });
  }

  /** docker rm. */
  async remove(idOrName: string, opts: { force: boolean }, ctx: CallContext): Promise<void> {
    const c0 = this.store.find(idOrName);
    if (c0.State.Status === 'running' || c0.State.Status === 'paused') {
      if (!opts.force) throw E.ContainerRunning(c0.Id);
      await this.svc.executor.killTask({ containerId: c0.Id, signal: 9, all: true }, ctx).catch(() => undefined);
      await withTimeout(this.exitOf(c0.Id), 30_000);
    }
    await this.locks.run(c0.Id, async () => {
      const c = this.store.get(c0.Id);
      if (!c) return;
      if ((c.State.Status === 'running' || c.State.Status === 'paused') && !opts.force) throw E.ContainerRunning(c.Id);
      await this.removeNow(c, ctx);
    });
  }

  private async removeNow(c: ContainerRecord, ctx: CallContext): Promise<void> {
    this.store.setState(c, { Status: 'removing' });
    this.watching.get(c.Id)?.abort();
    this.watching.delete(c.Id);
    await this.releaseResources(c.Id, ctx);
    await this.svc.storage.removeRootfs({ containerId: c.Id }, ctx).catch((err) => {
      if (!E.RootfsNotFound.is(err)) throw err;
    });
    rmSync(this.containerDir(c.Id), { recursive: true, force: true });
    this.store.remove(c.Id);
    this.emitEvent('destroy', c);
    this.emit(`removed:${c.Id}`);
    ctx.log.info({ id: c.Id }, 'container removed');
  }

  /** docker wait. condition: not-running (default), next-exit, removed. */
  async wait(idOrName: string, condition: string | undefined, signal?: AbortSignal): Promise<{ StatusCode: number }> {
    const c = this.store.find(idOrName);
    const cond = condition || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw E.InvalidArgument(`invalid condition: "${cond}": use not-running, next-exit or removed`);
    const running = c.State.Status === 'running' || c.State.Status === 'paused';
    if (cond === 'not-running' && !running) return { StatusCode: c.State.ExitCode };
    return new Promise((resolve, reject) => {
      const ev = cond === 'removed' ? `removed:${c.Id}` : `exit:${c.Id}`;
      let code = c.State.ExitCode;
      const onExit = (n: number) => (code = n);
      const done = () => {
        this.off(`exit:${c.Id}`, onExit);
        resolve({ StatusCode: cond === 'removed' ? code : (this.store.get(c.Id)?.State.ExitCode ?? code) });
      };
      this.on(`exit:${c.Id}`, onExit);
      this.once(ev, done);
      signal?.addEventListener('abort', () => {
        this.off(ev, done);
        this.off(`exit:${c.Id}`, onExit);
        reject(E.Canceled('wait'));
      });
    });
  }

  /** Log records of a container (k8s-file log written by its monitor). */
  async logs(idOrName: string, opts: Omit<LogReadOptions, 'stopped'>, emit: (r: LogRecord) => void): Promise<void> {
    const c = this.store.find(idOrName);
    const running = c.State.Status === 'running' || c.State.Status === 'paused';
    await readLogs(this.logPath(c.Id), { ...opts, follow: opts.follow && running, stopped: this.exitOf(c.Id) }, emit);
  }

  /**
   * Attach to the output of a container: waits for it to start if it has not, then streams
   * what it writes until it stops. An auto-removed container waits for attached clients.
   */
  attach(idOrName: string, opts: { stdout: boolean; stderr: boolean; signal?: AbortSignal }, emit: (r: LogRecord) => void): Promise<void> {
    const c = this.store.find(idOrName);
    const p = (async () => {
      const wasRunning = c.State.Status === 'running' || c.State.Status === 'paused';
      if (!wasRunning) {
        // Wait for the start (docker attaches before starting); give up if it is removed.
        const started = await new Promise<boolean>((resolve) => {
          const onStart = () => cleanup(true);
          const onGone = () => cleanup(false);
          const cleanup = (v: boolean) => {
            this.off(`start:${c.Id}`, onStart);
            this.off(`removed:${c.Id}`, onGone);
            resolve(v);
          };
          this.once(`start:${c.Id}`, onStart);
          this.once(`removed:${c.Id}`, onGone);
          opts.signal?.addEventListener('abort', () => cleanup(false), { once: true });
        });
        if (!started) return;
      }
      // Already running: only what it writes from now on (tail 0); just started: everything.
      const stopped = this.exitOf(c.Id);
      await readLogs(this.logPath(c.Id), { stdout: opts.stdout, stderr: opts.stderr, follow: true, signal: opts.signal, stopped, tail: wasRunning ? 0 : undefined }, emit);
    })();
    let set = this.attached.get(c.Id);
    if (!set) this.attached.set(c.Id, (set = new Set()));
    set.add(p);
    return p.finally(() => {
      set!.delete(p);
      if (set!.size === 0) this.attached.delete(c.Id);
    });
  }

  /**
   * Reconcile with what really exists after a (re)start: running containers are followed again,
   * exits that happened while the engine was down are recorded with their real exit code, and
   * leftovers of containers that no longer exist (tasks, attachments, rootfs) are cleaned.
   */
  async restore(ctx: CallContext): Promise<void> {
    const known = new Set<string>();
    for (const c of this.store.list()) {
      known.add(c.Id);
      if (c.State.Status === 'removing') {
        await this.removeNow(c, ctx).catch((err) => ctx.log.warn({ err, id: c.Id }, 'finishing an interrupted removal failed'));
        continue;
      }
      if (c.State.Status !== 'running' && c.State.Status !== 'paused') continue;
      let task: Task | undefined;
      try {
        task = await this.svc.executor.getTask({ containerId: c.Id }, ctx);
      } catch (e) {
        if (!E.TaskNotFound.is(e)) throw e;
      }
      if (task && task.status !== 'STOPPED') {
        this.watch(c.Id);
      } else {
        await this.handleExit(c.Id, task ?? { exitCode: 255, exitReason: 'the container task was lost while the engine was down' }, ctx);
      }
    }
    const { tasks } = await this.svc.executor.listTasks({}, ctx);
    for (const t of tasks) if (!known.has(t.containerId)) await this.svc.executor.deleteTask({ containerId: t.containerId, force: true }, ctx).catch(() => undefined);
    const { attachments } = await this.svc.network.listAttachments({}, ctx);
    for (const a of attachments) if (!known.has(a.containerId)) await this.svc.network.detach({ containerId: a.containerId }, ctx).catch(() => undefined);
    const { rootfs } = await this.svc.storage.listRootfs({}, ctx);
    for (const r of rootfs) if (!known.has(r.containerId)) await this.svc.storage.removeRootfs({ containerId: r.containerId }, ctx).catch(() => undefined);
  }

  /** Image IDs used by containers (an image in use can't be removed without force). */
  imagesInUse(): string[] {
    return [...new Set(this.store.list().map((c) => c.ImageID))];
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const ac of this.watching.values()) ac.abort();
    this.watching.clear();
    this.store.close();
  }
}

function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

interface ImageRuntimeConfig {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

function parseImageConfig(img: Image): ImageRuntimeConfig {
  try {
    return (JSON.parse(img.configJson)?.config ?? {}) as ImageRuntimeConfig;
  } catch {
    return {};
  }
}

/** Image env first, then the user's (a user KEY=VALUE replaces the image's KEY). */
export function mergeEnv(base: string[], extra: string[]): string[] {
  const out = new Map<string, string>();
  for (const kv of [...base, ...extra]) {
    const i = kv.indexOf('=');
    out.set(i < 0 ? kv : kv.slice(0, i), kv);
  }
  return [...out.values()];
}

export { isCongaError };
