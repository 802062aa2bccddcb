import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  E, KeyedMutex, isCongaError, layout, newContext, toCongaError,
  type CallContext, type DaemonConfig, type Logger, type Paths,
} from '@conga/common';
import type { Image, Mount, Task, TaskStats } from '@conga/api';
import { EventLog } from './events';
import { checkCreateBodyTypes } from './create-body-schema';
import { resourcesFromHostConfig, specFromHostConfig, userMounts, validateHostConfig, parseBind } from './host-config';
import { VolumeStore } from './volumes';
import { runPs } from './top';
import { ContainerStore } from './container-store';
import { initialState, ZERO_TIME, type ContainerConfig, type ContainerRecord, type HealthConfig, type HostConfig, type PodBinding } from './container-types';
import { newContainerId, randomName, validateName } from './names';
import { parseSignal } from './signals';
import { resolveUser } from './user';
import { attachRequestFor, mergeExposedPorts, networkSettings, storeSettings, validateNetworkFields } from './network-settings';
import type { Services } from './services';
import { readLogs, type LogReadOptions, type LogRecord } from './logs';
import { HealthMonitor, mergeHealthcheck, startingHealth } from './health';
import { checkInitBinary, initMount, withInit } from './init-process';
import { logLimits } from './log-config';
import { podMounts, podPidPath, podSpec } from './pod-binding';

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

type ContainerEvent = 'create' | 'start' | 'die' | 'stop' | 'kill' | 'destroy' | 'pause' | 'unpause' | 'rename' | 'restart' | 'update' | 'oom' | 'health_status' | string;

/** Fields `docker update` may change (POST /containers/{id}/update). */
export type UpdateBody = Pick<HostConfig, 'Memory' | 'MemorySwap' | 'MemoryReservation' | 'NanoCpus' | 'CpuShares' | 'CpuQuota' | 'CpuPeriod' | 'CpusetCpus' | 'CpusetMems' | 'PidsLimit' | 'BlkioWeight' | 'RestartPolicy'>;

const UPDATABLE: (keyof UpdateBody)[] = ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight', 'RestartPolicy'];

const isLive = (c: ContainerRecord) => c.State.Status === 'running' || c.State.Status === 'paused';

/**
 * The engine's container lifecycle: metadata in SQLite, one lock per container, and the four
 * services doing the work (storage: rootfs, network: netns/CNI, executor: runc via conmon).
 * Every step that can fail is undone on failure, so a failed start leaves no mount, netns or
 * runc state. Exits are learned from executor.waitTask, so they survive engine restarts.
 */
export class Containers extends EventEmitter {
  readonly store: ContainerStore;
  readonly events = new EventLog();
  readonly volumes: VolumeStore;
  private readonly locks = new KeyedMutex();
  /** Pending restarts (restart policy) by container id. */
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** Current restart back-off (ms) by container id: 100 ms doubling, reset after 10 s of running. */
  private readonly backoff = new Map<string, number>();
  private readonly watching = new Map<string, AbortController>();
  /** Other owners of tasks, netns and rootfs (CRI pods): the orphan reaper leaves what they claim. */
  private readonly owners: Array<(id: string) => boolean> = [];
  private readonly attached = new Map<string, Set<Promise<unknown>>>();
  /** Detaches retried after a failed start while the network service was unreachable. */
  private readonly detachRetries = new Map<string, NodeJS.Timeout>();
  /** Health checks (Config.Healthcheck) of running containers. */
  private readonly health: HealthMonitor;
  private closed = false;
  private reaper: NodeJS.Timeout | undefined;
  private readonly svc: Services;
  private readonly log: Logger;

  constructor(private readonly opts: ContainersOptions) {
    super();
    this.setMaxListeners(0);
    this.svc = opts.services;
    this.log = opts.log;
    this.store = new ContainerStore(layout.engineDir(opts.paths));
    this.volumes = new VolumeStore(join(layout.engineDir(opts.paths), 'volumes'));
    this.health = new HealthMonitor({
      executor: this.svc.executor,
      log: this.log,
      update: (id, fn) =>
        this.locks.run(id, async () => {
          const c = this.store.get(id);
          if (c && fn(c)) this.store.save(c);
          return c;
        }),
      emit: (c, status) => this.emitEvent(`health_status: ${status}`, c),
    });
  }

  /** Register another owner of resources keyed by id (e.g. CRI pods and their netns). */
  addResourceOwner(claims: (id: string) => boolean): void {
    this.owners.push(claims);
  }

  containerDir(id: string): string {
    return join(layout.engineDir(this.opts.paths), 'containers', id);
  }

  /** The container's log file: ctr.log in its directory, or where its CRI pod asked for it. */
  logPath(id: string): string {
    const pod = this.store.get(id)?.Pod;
    return pod ? pod.logPath : join(this.containerDir(id), 'ctr.log');
  }

  /** Publish a container event (attributes: the container's labels, name, image and `extra`). */
  emitEvent(action: ContainerEvent, c: ContainerRecord, extra: Record<string, string> = {}): void {
    const ev = this.events.publish('container', action, c.Id, { ...(c.Config.Labels ?? {}), image: c.Image, name: c.Name, ...extra });
    this.emit('event', ev);
  }

  /** docker create: resolve the image, record the container and prepare its rootfs. */
  async create(body: CreateContainerBody, name: string | undefined, ctx: CallContext, pod?: PodBinding): Promise<{ Id: string; Warnings: string[] }> {
    checkCreateBodyTypes(body);
    if (!body || typeof body.Image !== 'string' || body.Image === '') throw E.InvalidArgument('config.Image is required: name the image to create the container from');
    for (const k of ['Cmd', 'Entrypoint', 'Env'] as const) {
      const v = body[k];
      if (v != null && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) throw E.InvalidArgument(`config.${k} must be an array of strings`);
    }
    const hc: HostConfig = body.HostConfig ?? {};
    validateHostConfig(hc, body);
    if (hc.Init) checkInitBinary();
    logLimits(hc.LogConfig ?? { Type: this.opts.config['log-driver'] }, this.opts.config['log-opts']);
    if (hc.Runtime && hc.Runtime !== 'runc' && !(this.opts.config as { runtimes?: Record<string, unknown> }).runtimes?.[hc.Runtime]) {
      throw E.InvalidArgument(`unknown or invalid runtime name: ${hc.Runtime}: use runc or one named in daemon.json "runtimes"`);
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
    // A system container tells systemd it runs in a container (env `container`, as iSulad/podman do).
    const env = mergeEnv([...(hc.SystemContainer ? ['container=conga'] : []), ...(imgCfg.Env ?? [])], body.Env ?? []);
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
        // systemd as init shuts down cleanly on SIGRTMIN+3 (SIGTERM only makes it re-execute).
        StopSignal: body.StopSignal || imgCfg.StopSignal || (hc.SystemContainer ? 'SIGRTMIN+3' : 'SIGTERM'),
        Healthcheck: mergeHealthcheck(imgCfg.Healthcheck, body.Healthcheck),
        ...mergeExposedPorts(imgCfg.ExposedPorts, (body as { ExposedPorts?: Record<string, unknown> | null }).ExposedPorts),
      } as ContainerConfig,
      HostConfig: { NetworkMode: 'default', RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, LogConfig: { Type: this.opts.config['log-driver'], Config: {} }, ...hc },
      State: initialState(),
      RestartCount: 0,
      ChainID: image.chainIds[image.chainIds.length - 1] ?? '',
      ...(pod ? { Pod: pod } : {}),
    };
    delete (rec.Config as { HostConfig?: unknown }).HostConfig;
    validateNetworkFields(rec);
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
    // container:<name or id> joins that container's netns: the network service wants its full id.
    if (m.startsWith('container:')) return `container:${this.store.find(m.slice('container:'.length)).Id}`;
    return m === '' || m === 'default' || m === 'bridge' ? this.opts.defaultNetwork : m;
  }

  /** Run `fn` under the container's lock with its current record (network connect/disconnect). */
  withLock<T>(idOrName: string, fn: (c: ContainerRecord) => Promise<T>): Promise<T> {
    const { Id: id } = this.store.find(idOrName);
    return this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c) throw E.ContainerNotFound(idOrName);
      return fn(c);
    });
  }

  /**
   * Run `fn` with a host path to the container's filesystem (docker cp, export). A running or
   * paused container: `/proc/<pid>/root`, its volumes included (`rootfsOnly`: the rootfs mount,
   * without volumes, for export). A stopped one: its rootfs mounted for the call, under the
   * container's lock so start/rm wait, and unmounted after, even when `fn` fails. `fn` must only
   * resolve once it is done with the path (streams included).
   */
  async withFilesystem<T>(idOrName: string, opts: { rootfsOnly?: boolean }, ctx: CallContext, fn: (root: string, c: ContainerRecord) => Promise<T>): Promise<T> {
    const c = this.store.find(idOrName);
    if (isLive(c) && c.State.Pid > 0) {
      const root = opts.rootfsOnly ? (await this.svc.storage.getRootfs({ containerId: c.Id }, ctx)).mountPath : `/proc/${c.State.Pid}/root`;
      return fn(root, c);
    }
    return this.locks.run(c.Id, async () => {
      const cur = this.store.get(c.Id);
      if (!cur) throw E.ContainerNotFound(idOrName);
      if (cur.State.Status === 'removing') throw E.TaskState(c.Id, 'the container is being removed');
      const before = await this.svc.storage.getRootfs({ containerId: c.Id }, ctx);
      const rootfs = await this.svc.storage.mountRootfs({ containerId: c.Id }, ctx);
      try {
        return await fn(rootfs.mountPath, cur);
      } finally {
        if (!before.mounted) {
          await this.svc.storage.unmountRootfs({ containerId: c.Id }, newContext(this.log)).catch((err) => ctx.log.warn({ err, id: c.Id }, 'unmounting the rootfs after a copy failed'));
        }
      }
    });
  }

  /** docker start. Returns false when the container was already running (HTTP 304). */
  async start(idOrName: string, ctx: CallContext, opts: { restart?: boolean } = {}): Promise<boolean> {
    const { Id: id } = this.store.find(idOrName);
    this.cancelRestart(id);
    return this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c) throw E.ContainerNotFound(idOrName);
      if (c.State.Status === 'running' || c.State.Status === 'paused') return false;
      if (c.State.Status === 'removing') throw E.TaskState(id, 'the container is being removed');
      // A policy restart gives way to a stop, kill or rm that came in meanwhile.
      if (opts.restart && (c.ManuallyStopped || c.State.Status !== 'restarting')) return false;
      if (opts.restart) c.RestartCount++;
      else c.RestartCount = 0;
      c.ManuallyStopped = false;
      const undo: Array<() => Promise<unknown>> = [];
      try {
        const rootfs = await this.svc.storage.mountRootfs({ containerId: id }, ctx);
        undo.push(() => this.svc.storage.unmountRootfs({ containerId: id }, ctx));
        const dir = this.containerDir(id);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const pod = c.Pod;
        // A CRI pod's container joins the pod's namespaces: CNI ran for the pod, not for it.
        // The detach is registered before the attach: a service that dies after its ADD but
        // before replying leaves an attachment the engine never heard of.
        if (!pod) undo.push(() => this.detachOrRetry(id, ctx));
        const att = pod ? undefined : await this.svc.network.attach(attachRequestFor(c, this.networkFor(c), dir, this.opts.defaultNetwork), ctx);
        if (att) storeSettings(c, networkSettings(c, att, this.opts.defaultNetwork));
        const user = await resolveUser(rootfs.mountPath, c.Config.User);
        if (pod?.groups?.length) user.additionalGids = [...new Set([...user.additionalGids, ...pod.groups])];
        // A container that ran before still has its stopped task: clear it.
        await this.svc.executor.deleteTask({ containerId: id, force: true }, ctx).catch(() => undefined);
        const mounts: Mount[] = pod
          ? podMounts(dir, pod)
          : [
              ['/etc/hosts', att!.hostsPath],
              ['/etc/hostname', att!.hostnamePath],
              ['/etc/resolv.conf', att!.resolvConfPath],
            ]
              .filter(([, src]) => !!src)
              .map(([destination, source]) => ({ destination, source, type: 'bind', options: ['rbind', 'rprivate'] }));
        mounts.push(...userMounts(c.HostConfig, (name, create) => (create ? this.volumes.create(name) : this.volumes.get(name)).Mountpoint));
        if (c.HostConfig.SystemContainer) mounts.push(...systemContainerMounts(mounts));
        if (c.HostConfig.Init) {
          checkInitBinary();
          mounts.push(initMount());
        }
        const logDriver = c.HostConfig.LogConfig?.Type ?? 'json-file';
        const logRotation = logLimits(c.HostConfig.LogConfig, this.opts.config['log-opts']);
        await this.svc.executor.createTask(
          {
            containerId: id,
            bundleDir: dir,
            logPath: logDriver === 'none' ? '' : pod ? pod.logPath : this.logPath(id),
            // --log-opt max-size/max-file: the executor rotates the file (a pod's log belongs to the kubelet).
            logMaxSize: pod ? 0 : logRotation.maxSize,
            logMaxFiles: pod ? 0 : logRotation.maxFiles,
            // -i: stdin through conmon's attach socket; StdinOnce (without a TTY): EOF closes it.
            stdin: !!c.Config.OpenStdin,
            stdinOnce: !!(c.Config as { StdinOnce?: boolean }).StdinOnce && !c.Config.Tty,
            spec: {
              process: { args: c.HostConfig.Init ? withInit([c.Path, ...c.Args]) : [c.Path, ...c.Args], env: c.Config.Env ?? [], cwd: c.Config.WorkingDir || '/', user, terminal: !!c.Config.Tty },
              rootfs: rootfs.mountPath,
              readonlyRootfs: !!c.HostConfig.ReadonlyRootfs,
              hostname: c.Config.Hostname,
              netnsPath: att?.netnsPath || (!pod && this.networkFor(c) === 'host' ? 'host' : ''),
              mounts,
              annotations: { 'io.conga.container.name': c.Name },
              cgroupParent: this.opts.config['cgroup-parent'],
              privileged: !!c.HostConfig.Privileged,
              capAdd: c.HostConfig.CapAdd ?? [],
              capDrop: c.HostConfig.CapDrop ?? [],
              ...specFromHostConfig(c.HostConfig),
              ...(pod ? podSpec(pod, podPidPath(c, this.store.list())) : {}),
            },
          },
          ctx,
        );
        undo.push(() => this.svc.executor.deleteTask({ containerId: id, force: true }, ctx));
        const task = await this.svc.executor.startTask({ containerId: id }, ctx);
        this.store.setState(c, { Status: 'running', Pid: task.pid, ExitCode: 0, Error: '', OOMKilled: false, StartedAt: task.startedAt || new Date().toISOString(), FinishedAt: ZERO_TIME, ...(HealthMonitor.wants(c) ? { Health: startingHealth() } : {}) });
      } catch (e) {
        for (const u of undo.reverse()) await u().catch((err) => ctx.log.warn({ err, id }, 'undo after failed start'));
        const err = toCongaError(e);
        this.store.setState(c, { Status: c.State.Status === 'created' ? 'created' : 'exited', Error: err.message, ExitCode: /not found|no such file|executable file/i.test(err.message) ? 127 : 128 });
        if (opts.restart) this.scheduleRestart(c, ctx);
        if (c.HostConfig.AutoRemove) await this.removeNow(c, ctx).catch(() => undefined);
        throw e;
      }
      this.emitEvent('start', c);
      this.emit(`start:${id}`);
      this.watch(id);
      this.health.start(c);
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
        OOMKilled: !!task.oomKilled,
      });
      return c;
    });
    this.health.stop(id);
    if (!c) return;
    // Like dockerd: an OOM kill in the container's cgroup is published before its `die`.
    if (c.State.OOMKilled) this.emitEvent('oom', c);
    this.emitEvent('die', c, { exitCode: String(c.State.ExitCode) });
    this.emit(`exit:${id}`, c.State.ExitCode);
    if (this.shouldRestart(c)) {
      this.scheduleRestart(c, ctx);
      return;
    }
    if (c.HostConfig.AutoRemove) {
      // Let attached clients drain the output first.
      await Promise.allSettled([...(this.attached.get(id) ?? [])]);
      await this.remove(id, { force: true }, ctx).catch((err) => ctx.log.warn({ err, id }, 'auto-remove failed'));
    }
  }

  /**
   * Delete the task, detach the network, unmount the rootfs. Every step is tried; with `strict`
   * (removal) the first failure is thrown afterwards, so a record is never dropped while its
   * runc state, netns or mount still exists (e.g. a split-mode service is down: `rm` fails with
   * that service's name and can be retried; the record stays in "removing" until it succeeds).
   */
  private async releaseResources(id: string, ctx: CallContext, strict = false): Promise<void> {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['delete task', () => this.svc.executor.deleteTask({ containerId: id, force: true }, ctx)],
      ['detach network', () => this.svc.network.detach({ containerId: id }, ctx)],
      ['unmount rootfs', () => this.svc.storage.unmountRootfs({ containerId: id }, ctx)],
    ];
    let first: unknown;
    for (const [what, f] of steps) {
      await f().catch((err) => {
        if (E.TaskNotFound.is(err) || E.RootfsNotFound.is(err)) return;
        ctx.log.warn({ err, id }, `${what} failed`);
        first ??= err;
      });
    }
    if (strict && first) throw first;
  }

  /**
   * Remove tasks, network attachments and rootfs that belong to no container record (left by a
   * crash between steps, or by a removal while a service was unreachable). Runs at start and
   * then periodically, so a service that comes back is cleaned without an engine restart.
   */
  async reapOrphans(ctx: CallContext): Promise<void> {
    // Each list is taken BEFORE the records are read: a record is written before any of its
    // resources, so a resource being created right now always has a record in the later read.
    const known = () => {
      const ids = new Set(this.store.list().map((c) => c.Id));
      return { has: (id: string) => ids.has(id) || this.owners.some((claims) => claims(id)) };
    };
    const { tasks } = await this.svc.executor.listTasks({}, ctx);
    const k1 = known();
    for (const t of tasks) if (!k1.has(t.containerId)) await this.svc.executor.deleteTask({ containerId: t.containerId, force: true }, ctx).catch(() => undefined);
    const { attachments } = await this.svc.network.listAttachments({}, ctx);
    const k2 = known();
    for (const a of attachments) {
      if (!k2.has(a.containerId)) await this.svc.network.detach({ containerId: a.containerId }, ctx).catch(() => undefined);
      // A container that is not running holds no network (a start whose attach lost its reply).
      else if (this.store.get(a.containerId) && !this.isUp(a.containerId)) {
        await this.locks.run(a.containerId, async () => {
          if (!this.isUp(a.containerId)) await this.svc.network.detach({ containerId: a.containerId }, ctx).catch(() => undefined);
        });
      }
    }
    const { rootfs } = await this.svc.storage.listRootfs({}, ctx);
    const k3 = known();
    for (const r of rootfs) {
      if (!k3.has(r.containerId)) await this.svc.storage.removeRootfs({ containerId: r.containerId }, ctx).catch(() => undefined);
      // Nor does it keep its rootfs mounted (a start cut short between the mount and runc).
      else if (r.mounted && this.store.get(r.containerId) && !this.isUp(r.containerId)) {
        await this.locks.run(r.containerId, async () => {
          if (!this.isUp(r.containerId)) await this.svc.storage.unmountRootfs({ containerId: r.containerId }, ctx).catch(() => undefined);
        });
      }
    }
  }

  private async releaseHalfStarted(id: string, ctx: CallContext): Promise<void> {
    ctx.log.warn({ id }, 'releasing a container whose start was interrupted by an engine restart');
    await this.svc.executor.deleteTask({ containerId: id, force: true }, ctx).catch((err) => ctx.log.warn({ err, id }, 'removing the half-started task failed'));
    await this.svc.network.detach({ containerId: id }, ctx).catch(() => undefined);
    await this.svc.storage.unmountRootfs({ containerId: id }, ctx).catch(() => undefined);
  }

  private isUp(id: string): boolean {
    const st = this.store.get(id)?.State.Status;
    return st === 'running' || st === 'paused';
  }

  /**
   * Detach after a failed start. When the network service is unreachable (split mode, killed),
   * retry with back-off (0.5 s doubling to 30 s) until it answers, unless the container was
   * started again meanwhile (then the attachment is its new one).
   */
  private async detachOrRetry(id: string, ctx: CallContext): Promise<void> {
    try {
      await this.svc.network.detach({ containerId: id }, ctx);
    } catch (err) {
      ctx.log.warn({ err, id }, 'detaching after a failed start failed; will retry');
      const retry = (delay: number) => {
        if (this.closed || this.detachRetries.has(id)) return;
        const t = setTimeout(() => {
          this.detachRetries.delete(id);
          void this.locks
            .run(id, async () => {
              if (!this.isUp(id)) await this.svc.network.detach({ containerId: id }, ctx);
            })
            .catch(() => retry(Math.min(delay * 2, 30_000)));
        }, delay);
        t.unref();
        this.detachRetries.set(id, t);
      };
      retry(500);
    }
  }

  /** The restart policy's verdict for a container that just exited. */
  private shouldRestart(c: ContainerRecord): boolean {
    if (this.closed || c.ManuallyStopped || c.HostConfig.AutoRemove) return false;
    const p = c.HostConfig.RestartPolicy ?? { Name: 'no' };
    switch (p.Name) {
      case 'always':
      case 'unless-stopped':
        return true;
      case 'on-failure':
        return c.State.ExitCode !== 0 && (!p.MaximumRetryCount || c.RestartCount < p.MaximumRetryCount);
      default:
        return false;
    }
  }

  /** Start `c` again after its back-off (docker: 100 ms doubling to 1 min; reset after 10 s up). */
  private scheduleRestart(c: ContainerRecord, ctx: CallContext): void {
    if (this.closed || this.restartTimers.has(c.Id)) return;
    const ran = Date.parse(c.State.FinishedAt) - Date.parse(c.State.StartedAt);
    let delay = this.backoff.get(c.Id) ?? 0;
    delay = ran >= 10_000 || !delay ? 100 : Math.min(delay * 2, 60_000);
    this.backoff.set(c.Id, delay);
    this.store.setState(c, { Status: 'restarting' });
    const t = setTimeout(() => {
      this.restartTimers.delete(c.Id);
      void this.start(c.Id, ctx, { restart: true })
        .then(() => {
          const now = this.store.get(c.Id);
          if (now) this.emitEvent('restart', now);
        })
        .catch((err) => ctx.log.warn({ err, id: c.Id }, 'restart by policy failed'));
    }, delay);
    t.unref();
    this.restartTimers.set(c.Id, t);
  }

  private cancelRestart(id: string): boolean {
    const t = this.restartTimers.get(id);
    if (!t) return false;
    clearTimeout(t);
    this.restartTimers.delete(id);
    return true;
  }

  /**
   * A manual stop (stop, kill, rm): cancel a pending policy restart, turn "restarting" back into
   * "exited" and remember the stop. Done under the container's lock, so it cannot interleave
   * with a policy restart in progress (which would otherwise save its stale copy over it).
   * Returns the fresh record and whether it was waiting for a restart.
   */
  private markStopped(id: string): Promise<{ c: ContainerRecord; wasRestarting: boolean } | undefined> {
    this.cancelRestart(id);
    return this.locks.run(id, async () => {
      this.cancelRestart(id);
      const c = this.store.get(id);
      if (!c) return undefined;
      const wasRestarting = c.State.Status === 'restarting';
      if (wasRestarting) c.State.Status = 'exited';
      c.ManuallyStopped = true;
      this.store.save(c);
      return { c, wasRestarting };
    });
  }

  /** docker kill. */
  async kill(idOrName: string, signal: string | undefined, ctx: CallContext): Promise<void> {
    const found = this.store.find(idOrName);
    const sig = parseSignal(signal, 9);
    if (found.State.Status === 'paused' && sig !== 9) throw E.ContainerPaused(found.Id);
    if (!isLive(found) && found.State.Status !== 'restarting') throw E.ContainerNotRunning(found.Id);
    // Like dockerd: a kill by the user counts as a manual stop for the restart policy.
    const m = await this.markStopped(found.Id);
    if (!m) throw E.ContainerNotFound(idOrName);
    const c = m.c;
    if (m.wasRestarting) return;
    if (!isLive(c)) throw E.ContainerNotRunning(c.Id);
    await this.svc.executor.killTask({ containerId: c.Id, signal: sig, all: sig === 9 }, ctx);
    if (c.State.Status === 'paused') await this.svc.executor.resumeTask({ containerId: c.Id }, ctx).catch(() => undefined);
    this.emitEvent('kill', c, { signal: String(sig) });
  }

  /** docker stop: StopSignal, then SIGKILL after `timeout` seconds. False if not running (304). */
  async stop(idOrName: string, timeout: number | undefined, ctx: CallContext): Promise<boolean> {
    const m = await this.markStopped(this.store.find(idOrName).Id);
    if (!m) throw E.ContainerNotFound(idOrName);
    const c = m.c;
    if (m.wasRestarting) return true;
    if (!isLive(c)) return false;
    const t = timeout ?? c.Config.StopTimeout ?? 10;
    const exited = this.exitOf(c.Id);
    const sig = parseSignal(c.Config.StopSignal, 15);
    try {
      await this.svc.executor.killTask({ containerId: c.Id, signal: sig, all: false }, ctx);
      // A frozen container gets its signal once thawed.
      if (c.State.Status === 'paused') await this.svc.executor.resumeTask({ containerId: c.Id }, ctx).catch(() => undefined);
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
  async remove(idOrName: string, opts: { force: boolean; volumes?: boolean }, ctx: CallContext): Promise<void> {
    const found = this.store.find(idOrName);
    if (isLive(found) && !opts.force) throw E.ContainerRunning(found.Id);
    const m = await this.markStopped(found.Id);
    if (!m) throw E.ContainerNotFound(idOrName);
    const c0 = m.c;
    if (c0.State.Status === 'running' || c0.State.Status === 'paused') {
      if (!opts.force) throw E.ContainerRunning(c0.Id);
      await this.svc.executor.killTask({ containerId: c0.Id, signal: 9, all: true }, ctx).catch(() => undefined);
      if (c0.State.Status === 'paused') await this.svc.executor.resumeTask({ containerId: c0.Id }, ctx).catch(() => undefined);
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
    this.cancelRestart(c.Id);
    this.backoff.delete(c.Id);
    this.store.setState(c, { Status: 'removing' });
    this.watching.get(c.Id)?.abort();
    this.watching.delete(c.Id);
    this.health.stop(c.Id);
    await this.releaseResources(c.Id, ctx, true);
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
   * `logs`: a running container's earlier output comes first (docker's attach logs=1).
   */
  attach(idOrName: string, opts: { stdout: boolean; stderr: boolean; logs?: boolean; signal?: AbortSignal }, emit: (r: LogRecord) => void): Promise<void> {
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
      // Already running: only what it writes from now on (tail 0) unless the earlier output is
      // asked for too; just started: everything.
      const stopped = this.exitOf(c.Id);
      await readLogs(this.logPath(c.Id), { stdout: opts.stdout, stderr: opts.stderr, follow: true, signal: opts.signal, stopped, tail: wasRunning && !opts.logs ? 0 : undefined }, emit);
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
    const tasks = new Map((await this.svc.executor.listTasks({}, ctx)).tasks.map((t) => [t.containerId, t]));
    for (const c of this.store.list()) {
      if ((c.State.Status === 'created' || c.State.Status === 'exited') && (tasks.get(c.Id)?.status ?? 'STOPPED') !== 'STOPPED') {
        // A start cut short by the engine's death after runc started the process: the client
        // got an error, so undo it as the start itself would have (task, network, rootfs).
        await this.releaseHalfStarted(c.Id, ctx);
        continue;
      }
      if (c.State.Status === 'removing') {
        await this.removeNow(c, ctx).catch((err) => ctx.log.warn({ err, id: c.Id }, 'finishing an interrupted removal failed'));
        continue;
      }
      if (c.State.Status === 'restarting' || (c.State.Status === 'exited' && c.State.StartedAt !== ZERO_TIME && this.restartOnBoot(c))) {
        // Down while waiting for a policy restart, or a policy that restarts on engine start.
        c.State.Status = 'exited';
        this.store.save(c);
        this.scheduleRestart(c, ctx);
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
        this.health.start(c);
      } else {
        await this.handleExit(c.Id, task ?? { exitCode: 255, exitReason: 'the container task was lost while the engine was down' }, ctx);
      }
    }
    await this.reapOrphans(ctx);
    this.reaper ??= setInterval(() => {
      const c = newContext(this.log);
      this.reapOrphans(c).catch((err) => c.log.info({ err }, 'reaping orphans failed; will retry'));
    }, 60_000).unref();
  }

  /** Image IDs used by containers (an image in use can't be removed without force). */
  imagesInUse(): string[] {
    return [...new Set(this.store.list().map((c) => c.ImageID))];
  }

  /** always: restarted on engine start even after a manual stop; unless-stopped: unless stopped. */
  private restartOnBoot(c: ContainerRecord): boolean {
    const n = c.HostConfig.RestartPolicy?.Name;
    return n === 'always' || (n === 'unless-stopped' && !c.ManuallyStopped);
  }

  /** docker restart: stop (StopSignal, then SIGKILL after `timeout` s) and start again. */
  async restart(idOrName: string, timeout: number | undefined, ctx: CallContext): Promise<void> {
    const c = this.store.find(idOrName);
    await this.stop(c.Id, timeout, ctx);
    await this.start(c.Id, ctx);
    const now = this.store.get(c.Id);
    if (now) this.emitEvent('restart', now);
  }

  /** docker pause (runc pause: the freezer cgroup). */
  async pause(idOrName: string, ctx: CallContext): Promise<void> {
    const { Id: id } = this.store.find(idOrName);
    await this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c) throw E.ContainerNotFound(idOrName);
      if (c.State.Status === 'paused') throw E.TaskState(id, `Container ${id} is already paused`);
      if (c.State.Status !== 'running') throw E.ContainerNotRunning(id);
      await this.svc.executor.pauseTask({ containerId: id }, ctx);
      this.store.setState(c, { Status: 'paused' });
      this.emitEvent('pause', c);
    });
  }

  /** docker unpause. */
  async unpause(idOrName: string, ctx: CallContext): Promise<void> {
    const { Id: id } = this.store.find(idOrName);
    await this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c) throw E.ContainerNotFound(idOrName);
      if (c.State.Status !== 'paused') throw E.ContainerNotPaused(id);
      await this.svc.executor.resumeTask({ containerId: id }, ctx);
      this.store.setState(c, { Status: 'running' });
      this.emitEvent('unpause', c);
    });
  }

  /** docker rename (the UNIQUE name column decides races). */
  async rename(idOrName: string, newName: string, _ctx: CallContext): Promise<void> {
    if (!newName) throw E.InvalidArgument('Neither old nor new names may be empty');
    const name = validateName(newName);
    const { Id: id } = this.store.find(idOrName);
    await this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c) throw E.ContainerNotFound(idOrName);
      if (c.Name === name) throw E.InvalidArgument(`Renaming a container with the same name as its current name`);
      const oldName = c.Name;
      this.store.rename(c, name);
      this.emitEvent('rename', c, { oldName: `/${oldName}` });
    });
  }

  /** docker update: new limits recorded, and applied live when the container runs. */
  async update(idOrName: string, body: UpdateBody, ctx: CallContext): Promise<{ Warnings: string[] }> {
    if (!body || typeof body !== 'object') throw E.InvalidArgument('the update body must be a JSON object');
    const { Id: id } = this.store.find(idOrName);
    return this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c) throw E.ContainerNotFound(idOrName);
      const next: HostConfig = { ...c.HostConfig };
      for (const k of UPDATABLE) if (body[k] !== undefined && body[k] !== null) (next as Record<string, unknown>)[k] = body[k];
      if (body.NanoCpus) Object.assign(next, { CpuQuota: 0, CpuPeriod: 0 });
      if (body.CpuQuota || body.CpuPeriod) next.NanoCpus = 0;
      if (body.Memory && body.MemorySwap === undefined && c.HostConfig.MemorySwap && c.HostConfig.MemorySwap > 0 && body.Memory > c.HostConfig.MemorySwap) {
        throw E.InvalidArgument('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
      }
      validateHostConfig(next, c.Config);
      if (isLive(c)) {
        const r = resourcesFromHostConfig(next);
        // Only what the request names is changed live.
        const live: typeof r = {
          memory: body.Memory ? r.memory : 0,
          memorySwap: body.Memory || body.MemorySwap ? (body.MemorySwap ?? 0) > 0 || body.MemorySwap === -1 ? body.MemorySwap! : r.memorySwap : 0,
          memoryReservation: body.MemoryReservation ? r.memoryReservation : 0,
          cpuShares: body.CpuShares ? r.cpuShares : 0,
          cpuQuota: body.NanoCpus || body.CpuQuota ? r.cpuQuota : 0,
          cpuPeriod: body.NanoCpus || body.CpuPeriod ? r.cpuPeriod : 0,
          cpusetCpus: body.CpusetCpus ? r.cpusetCpus : '',
          cpusetMems: body.CpusetMems ? r.cpusetMems : '',
          pidsLimit: body.PidsLimit ? r.pidsLimit : 0,
          blkioWeight: body.BlkioWeight ? r.blkioWeight : 0,
        };
        await this.svc.executor.updateTask({ containerId: id, resources: live }, ctx);
      }
      c.HostConfig = next;
      this.store.save(c);
      this.emitEvent('update', c);
      return { Warnings: [] };
    });
  }

  /** One stats sample of a running container. */
  async stats(idOrName: string, ctx: CallContext): Promise<{ c: ContainerRecord; s: TaskStats | undefined }> {
    const c = this.store.find(idOrName);
    if (!isLive(c)) return { c, s: undefined };
    try {
      return { c, s: await this.svc.executor.statsTask({ containerId: c.Id }, ctx) };
    } catch (e) {
      if (E.TaskNotFound.is(e) || E.TaskState.is(e)) return { c, s: undefined };
      throw e;
    }
  }

  /** docker top: `ps psArgs` on the host, restricted to the container's processes. */
  async top(idOrName: string, psArgs: string | undefined, ctx: CallContext): Promise<{ Titles: string[]; Processes: string[][] }> {
    const c = this.store.find(idOrName);
    if (!isLive(c)) throw E.ContainerNotRunning(c.Id);
    const { pids } = await this.svc.executor.listPids({ containerId: c.Id }, ctx);
    return runPs(psArgs || '-ef', pids);
  }

  /** docker container prune: remove stopped containers matching `until`/`label` filters. */
  async prune(filters: Record<string, string[]>, ctx: CallContext): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    for (const k of Object.keys(filters)) if (!['until', 'label', 'label!'].includes(k)) throw E.InvalidArgument(`invalid filter '${k}'`);
    const until = filters.until?.[0] ? parseUntil(filters.until[0]) : undefined;
    const deleted: string[] = [];
    for (const c of this.store.list()) {
      if (c.State.Status !== 'exited' && c.State.Status !== 'created' && c.State.Status !== 'dead') continue;
      if (until !== undefined && Date.parse(c.Created) > until) continue;
      const labels = c.Config.Labels ?? {};
      const has = (l: string) => {
        const i = l.indexOf('=');
        return i < 0 ? l in labels : labels[l.slice(0, i)] === l.slice(i + 1);
      };
      if (filters.label?.length && !filters.label.every(has)) continue;
      if (filters['label!']?.length && filters['label!'].some(has)) continue;
      try {
        await this.remove(c.Id, { force: false }, ctx);
        deleted.push(c.Id);
      } catch (err) {
        ctx.log.info({ err, id: c.Id }, 'prune skipped a container');
      }
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: 0 };
  }

  /** Names of volumes used by containers (a volume in use is not removed or pruned). */
  volumeUsers(name: string): string[] {
    return this.store
      .list()
      .filter((c) => (c.HostConfig.Binds ?? []).some((b) => { try { const p = parseBind(b); return p.volume && p.source === name; } catch { return false; } }) || (c.HostConfig.Mounts ?? []).some((m) => m.Type === 'volume' && m.Source === name))
      .map((c) => c.Id);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reaper) clearInterval(this.reaper);
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    for (const t of this.detachRetries.values()) clearTimeout(t);
    this.detachRetries.clear();
    for (const ac of this.watching.values()) ac.abort();
    this.watching.clear();
    this.health.close();
    this.store.close();
  }
}

/** `until` of prune filters: unix seconds, RFC 3339 or a duration ago ("24h"); ms since epoch. */
function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const d = v.match(/^(\d+)(s|m|h)$/);
  if (d) return Date.now() - Number(d[1]) * ({ s: 1e3, m: 60e3, h: 3600e3 } as Record<string, number>)[d[2]];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw E.InvalidArgument(`invalid until filter "${v}"`);
  return t;
}

/** iSulad-style system container (systemd as init): what systemd needs besides the defaults. */
function systemContainerMounts(existing: Mount[]): { destination: string; type: string; source: string; options: string[] }[] {
  const have = new Set(existing.map((m) => m.destination ?? ""));
  const out = [
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755'] },
    { destination: '/run/lock', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] },
    { destination: '/var/log/journal', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] },
    // Writable, for systemd's own cgroups. runc mounts the container's OWN cgroup directories
    // there (each hierarchy's <parent>/<id>), never the host's tree, so nothing else is reachable.
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'rw'] },
  ];
  return out.filter((m) => !have.has(m.destination));
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
  Healthcheck?: HealthConfig | null;
  ExposedPorts?: Record<string, unknown> | null;
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
