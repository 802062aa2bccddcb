import { closeSync, constants, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { E, toCongaError, type CallContext } from '@conga/common';
import type { ContainerRecord, Engine, UpdateBody } from '@conga/engine';
import type { TaskStats } from '@conga/api';
import { criMeta, linuxResources, POD_ID_LABEL, toEngineCreate } from './container-config';
import { cpuUsage, dirUsage, memoryUsage, networkUsage } from './stats';
import { containerStatus, containerSummary, criState } from './container-status';
import { criEventType, EventQueue, type EngineEventLike } from './events';
import type { PodRecord } from './pod-store';
import type { ContainerRpcs, CriStreamRpc, PodAccess } from './runtime-service';

/**
 * CRI container RPCs over the engine's Containers (libs/engine): a CRI container is an engine
 * container with a PodBinding, so `conga ps` shows it and restarts, exits and removal behave
 * as for any container. Requests/responses are proto-loader objects (camelCase, int64 as
 * numbers, enums as names). Owner: libs/cri (containers).
 */

/** Where Exec/Attach/PortForward clients go (libs/cri/src/streaming). */
export interface StreamingUrls {
  execUrl(req: { containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): string;
  attachUrl(req: { containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): string;
  portForwardUrl(req: { podSandboxId: string; ports: number[] }): string;
}

export interface ContainerServiceOptions {
  engine: Engine;
  pods: PodAccess;
  /** The streaming server; without it Exec/Attach/PortForward answer Unimplemented. */
  streaming?: StreamingUrls;
}

/** ExecSync output kept per stream (kubelet probes read a few KiB). */
export const EXEC_SYNC_MAX_OUTPUT = 16 * 1024 * 1024;

type Req = Record<string, any>;

const isLive = (c: ContainerRecord) => c.State.Status === 'running' || c.State.Status === 'paused';

function matchesLabels(labels: Record<string, string>, selector: Record<string, string> | undefined | null): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

export class ContainerService implements ContainerRpcs {
  private readonly engine: Engine;

  constructor(private readonly opts: ContainerServiceOptions) {
    this.engine = opts.engine;
  }

  /** A CRI container by id or unique id prefix (containers made by the Engine API are not CRI's). */
  private find(id: string): ContainerRecord {
    if (!id) throw E.InvalidArgument('container_id is required');
    let c: ContainerRecord;
    try {
      c = this.engine.containers.store.find(id);
    } catch (e) {
      if (E.ContainerNotFound.is(e)) throw E.CriContainerNotFound(id);
      throw e;
    }
    if (!c.Pod || (c.Id !== id && !c.Id.startsWith(id))) throw E.CriContainerNotFound(id);
    return c;
  }

  private criContainers(): ContainerRecord[] {
    return this.engine.containers.store.list().filter((c) => c.Pod);
  }

  private readyPod(podId: string): PodRecord {
    const pod = this.opts.pods.getPod(podId);
    if (pod.state !== 'ready') throw E.CriPodNotReady(pod.id);
    return pod;
  }

  async createContainer(req: Req, ctx: CallContext) {
    const pod = this.readyPod(req.podSandboxId ?? '');
    const t = toEngineCreate(req.config, { ...pod, dns: dnsOf(pod) });
    if (t.pod.pidTarget) {
      // kubectl debug --target: the target is a container of the same pod (its full id is kept).
      const target = this.find(t.pod.pidTarget);
      if (target.Pod!.podId !== pod.id) throw E.InvalidArgument(`pid target ${t.pod.pidTarget} is not a container of pod ${pod.id}`);
      t.pod.pidTarget = target.Id;
    }
    for (const w of t.warnings) ctx.log.warn({ podId: pod.id, name: t.name }, w);
    const repoDigest = await this.repoDigestOf(t.body.Image ?? '', ctx);
    if (repoDigest) t.pod.meta = { ...t.pod.meta, imageRef: repoDigest };
    if (t.pod.logPath) mkdirSync(dirname(t.pod.logPath), { recursive: true, mode: 0o755 });
    try {
      const { Id } = await this.engine.containers.create(t.body, t.name, ctx, t.pod);
      return { containerId: Id };
    } catch (e) {
      if (E.ContainerNameInUse.is(e)) {
        const owner = this.engine.containers.store.list().find((c) => c.Name === t.name)?.Id ?? '';
        throw E.CriContainerNameReserved(t.name, owner);
      }
      throw e;
    }
  }

  /** The first repo digest of an image, as containerd reports ContainerStatus.imageRef; "" if none or no such image (create then says why). */
  private async repoDigestOf(ref: string, ctx: CallContext): Promise<string> {
    try {
      return (await this.engine.services.image.getImage({ reference: ref }, ctx)).repoDigests[0] ?? '';
    } catch (e) {
      if (toCongaError(e).kind === 'NotFound') return '';
      throw e;
    }
  }

  async startContainer(req: Req, ctx: CallContext) {
    const c = this.find(req.containerId);
    this.readyPod(c.Pod!.podId);
    if (c.State.Status !== 'created') throw E.TaskState(c.Id, `the container is in ${criState(c)} state: only a created container can be started; create a new one`);
    await this.engine.containers.start(c.Id, ctx);
    return {};
  }

  async stopContainer(req: Req, ctx: CallContext) {
    const c = this.find(req.containerId);
    if (!isLive(c)) return {};
    // timeout 0: SIGKILL right after the stop signal.
    const timeout = Math.max(0, Number(req.timeout ?? 0));
    await this.engine.containers.stop(c.Id, timeout, ctx);
    return {};
  }

  /** Idempotent: a container that is already gone is not an error (kubelet retries removals). */
  async removeContainer(req: Req, ctx: CallContext) {
    let c: ContainerRecord;
    try {
      c = this.find(req.containerId);
    } catch (e) {
      if (E.CriContainerNotFound.is(e)) return {};
      throw e;
    }
    await this.engine.containers.remove(c.Id, { force: true }, ctx);
    return {};
  }

  async listContainers(req: Req) {
    const f = req.filter ?? {};
    const containers = this.criContainers()
      .filter((c) => !f.id || c.Id.startsWith(f.id))
      .filter((c) => !f.podSandboxId || c.Pod!.podId.startsWith(f.podSandboxId))
      .filter((c) => !f.state || criState(c) === f.state.state)
      .filter((c) => matchesLabels(criMeta(c.Pod)!.labels, f.labelSelector))
      .map(containerSummary);
    return { containers };
  }

  async containerStatus(req: Req) {
    const c = this.find(req.containerId);
    const info: Record<string, string> = req.verbose
      ? { info: JSON.stringify({ pid: c.State.Pid, sandboxID: c.Pod!.podId, name: c.Name, path: c.Path, args: c.Args, pidMode: c.Pod!.pidMode, cgroupParent: c.Pod!.cgroupParent }) }
      : {};
    return { status: containerStatus(c), info };
  }

  /** Live limits (runc update) and recorded for the next start; fields left 0 keep their value. */
  async updateContainerResources(req: Req, ctx: CallContext) {
    const c = this.find(req.containerId);
    const warnings: string[] = [];
    const r = linuxResources(req.linux, warnings);
    for (const w of warnings) ctx.log.warn({ id: c.Id }, w);
    const body: UpdateBody = {};
    for (const [k, v] of Object.entries(r) as [keyof typeof r, number | string][]) if (v) (body as Record<string, unknown>)[k] = v;
    if (Object.keys(body).length) await this.engine.containers.update(c.Id, body, ctx);
    return {};
  }

  /**
   * After kubelet rotated the log file: conmon reopens log_path when told on its control fifo
   * (`<bundle>/ctl`, message "2 0 0"; the bundle directory is the engine's container directory).
   */
  async reopenContainerLog(req: Req) {
    const c = this.find(req.containerId);
    if (!isLive(c)) throw E.ContainerNotRunning(c.Id);
    let fd: number;
    try {
      fd = openSync(join(this.engine.containers.containerDir(c.Id), 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      throw E.TaskState(c.Id, `its monitor does not listen for a log reopen (${(e as Error).message})`);
    }
    try {
      writeSync(fd, '2 0 0\n');
    } finally {
      closeSync(fd);
    }
    return {};
  }

  async execSync(req: Req, ctx: CallContext) {
    const c = this.find(req.containerId);
    const cmd: string[] = req.cmd ?? [];
    if (!cmd.length || !cmd[0]) throw E.InvalidArgument('ExecSync needs a command (cmd)');
    if (!isLive(c)) throw E.ContainerNotRunning(c.Id);
    const timeout = Math.max(0, Number(req.timeout ?? 0));
    const r = await this.engine.services.executor.execSync(
      {
        containerId: c.Id,
        process: { args: cmd, env: c.Config.Env ?? [], cwd: c.Config.WorkingDir || '/', terminal: false },
        timeoutS: timeout,
        maxOutputBytes: EXEC_SYNC_MAX_OUTPUT,
      },
      ctx,
    );
    if (r.timedOut) throw E.Timeout(`ExecSync ${JSON.stringify(cmd)} in container ${c.Id} (${timeout}s)`);
    return { stdout: Buffer.from(r.stdout ?? []), stderr: Buffer.from(r.stderr ?? []), exitCode: r.exitCode };
  }

  private streaming(what: string): StreamingUrls {
    if (!this.opts.streaming) throw E.NotImplemented(`CRI ${what} (the streaming server is not running)`);
    return this.opts.streaming;
  }

  async exec(req: Req) {
    const c = this.find(req.containerId);
    const cmd: string[] = req.cmd ?? [];
    if (!cmd.length || !cmd[0]) throw E.InvalidArgument('Exec needs a command (cmd)');
    if (!isLive(c)) throw E.ContainerNotRunning(c.Id);
    if (!req.stdin && !req.stdout && !req.stderr) throw E.InvalidArgument('Exec needs one of stdin, stdout or stderr');
    if (req.tty && req.stderr) throw E.InvalidArgument('tty and stderr cannot both be true');
    return { url: this.streaming('Exec').execUrl({ containerId: c.Id, cmd, tty: !!req.tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr }) };
  }

  async attach(req: Req) {
    const c = this.find(req.containerId);
    if (!isLive(c)) throw E.ContainerNotRunning(c.Id);
    if (!req.stdin && !req.stdout && !req.stderr) throw E.InvalidArgument('Attach needs one of stdin, stdout or stderr');
    return { url: this.streaming('Attach').attachUrl({ containerId: c.Id, tty: !!req.tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr }) };
  }

  async portForward(req: Req) {
    const pod = this.readyPod(req.podSandboxId ?? '');
    const ports: number[] = (req.port ?? []).map(Number);
    for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw E.InvalidArgument(`port ${p} is out of range: use 1..65535`);
    return { url: this.streaming('PortForward').portForwardUrl({ podSandboxId: pod.id, ports }) };
  }

  private async sample(c: ContainerRecord, ctx: CallContext): Promise<TaskStats | undefined> {
    return isLive(c) ? (await this.engine.containers.stats(c.Id, ctx)).s : undefined;
  }

  private async stats(c: ContainerRecord, s: TaskStats | undefined, ctx: CallContext) {
    const m = criMeta(c.Pod)!;
    const now = Date.now() * 1e6;
    let usage = { bytes: 0, inodes: 0 };
    try {
      const rootfs = await this.engine.services.storage.getRootfs({ containerId: c.Id }, ctx);
      usage = await dirUsage(join(dirname(rootfs.mountPath), 'upper'));
    } catch (err) {
      ctx.log.debug({ err, id: c.Id }, 'writable layer usage unavailable');
    }
    return {
      attributes: { id: c.Id, metadata: { name: m.name, attempt: m.attempt }, labels: m.labels, annotations: m.annotations },
      cpu: cpuUsage(s, now),
      memory: memoryUsage(s, now),
      writableLayer: { timestamp: now, fsId: { mountpoint: this.engine.paths.root }, usedBytes: { value: usage.bytes }, inodesUsed: { value: usage.inodes } },
    };
  }

  async containerStats(req: Req, ctx: CallContext) {
    const c = this.find(req.containerId);
    return { stats: await this.stats(c, await this.sample(c, ctx), ctx) };
  }

  async listContainerStats(req: Req, ctx: CallContext) {
    const f = req.filter ?? {};
    const out = [];
    for (const c of this.criContainers()) {
      if (f.id && !c.Id.startsWith(f.id)) continue;
      if (f.podSandboxId && !c.Pod!.podId.startsWith(f.podSandboxId)) continue;
      if (!matchesLabels(criMeta(c.Pod)!.labels, f.labelSelector)) continue;
      out.push(await this.stats(c, await this.sample(c, ctx), ctx));
    }
    return { stats: out };
  }

  /** Pod stats: the sum of its running containers' samples; network from one of them (shared netns). */
  private async podStats(pod: PodRecord, ctx: CallContext) {
    const now = Date.now() * 1e6;
    const members = this.criContainers().filter((c) => c.Pod!.podId === pod.id);
    const containers = [];
    let cpu = 0;
    let ws = 0;
    let used = 0;
    let procs = 0;
    let net: TaskStats | undefined;
    for (const c of members) {
      const s = await this.sample(c, ctx);
      const st = await this.stats(c, s, ctx);
      containers.push(st);
      cpu += st.cpu.usageCoreNanoSeconds.value;
      ws += st.memory.workingSetBytes.value;
      used += st.memory.usageBytes.value;
      procs += Number(s?.pidsCurrent ?? 0);
      if (s?.networks?.length && !net) net = s;
    }
    return {
      attributes: { id: pod.id, metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: pod.attempt }, labels: pod.labels, annotations: pod.annotations },
      linux: {
        cpu: { timestamp: now, usageCoreNanoSeconds: { value: cpu } },
        memory: { timestamp: now, workingSetBytes: { value: ws }, usageBytes: { value: used } },
        network: networkUsage(net, now),
        process: { timestamp: now, processCount: { value: procs } },
        containers,
      },
    };
  }

  async podSandboxStats(req: Req, ctx: CallContext) {
    return { stats: await this.podStats(this.opts.pods.getPod(req.podSandboxId ?? ''), ctx) };
  }

  async listPodSandboxStats(req: Req, ctx: CallContext) {
    const f = req.filter ?? {};
    const out = [];
    for (const pod of this.opts.pods.listPods()) {
      if (f.id && !pod.id.startsWith(f.id)) continue;
      if (!matchesLabels(pod.labels, f.labelSelector)) continue;
      out.push(await this.podStats(pod, ctx));
    }
    return { stats: out };
  }

  /** No runtime-specific metrics: kubelet then uses the stats RPCs (containerd does the same). */
  async listMetricDescriptors() {
    return { descriptors: [] };
  }

  async listPodSandboxMetrics() {
    return { podMetrics: [] };
  }

  /** Container lifecycle events of CRI containers until the client goes away. */
  getContainerEvents: CriStreamRpc = async (_req, ctx) => {
    // The message is built when the event happens: statuses as they were then, not when sent.
    const queue = new EventQueue<ReturnType<ContainerService['eventMessage']>>();
    const onEvent = (ev: EngineEventLike) => {
      if (!criEventType(ev) || !ev.Actor.Attributes[POD_ID_LABEL]) return;
      // Runs inside the engine's emit: a failure here must not reach the container operation.
      try {
        queue.push(this.eventMessage(ev));
      } catch (err) {
        ctx.log.warn({ err, id: ev.Actor.ID }, 'dropping a CRI container event');
      }
    };
    this.engine.containers.on('event', onEvent);
    const ac = new AbortController();
    ctx.signal?.addEventListener('abort', () => ac.abort(), { once: true });
    try {
      for (;;) {
        const msg = await queue.next(ac.signal);
        if (!msg) return;
        ctx.send(msg);
      }
    } finally {
      this.engine.containers.off('event', onEvent);
    }
  };

  private eventMessage(ev: EngineEventLike) {
    const podId = ev.Actor.Attributes[POD_ID_LABEL];
    let pod: PodRecord | undefined;
    try {
      pod = this.opts.pods.getPod(podId);
    } catch {
      pod = undefined;
    }
    const peers = this.criContainers().filter((c) => c.Pod!.podId === podId);
    return {
      containerId: ev.Actor.ID,
      containerEventType: criEventType(ev),
      createdAt: ev.timeNano,
      podSandboxStatus: pod
        ? {
            id: pod.id,
            metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: pod.attempt },
            state: pod.state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
            createdAt: pod.createdAt,
            network: { ip: pod.ip, additionalIps: pod.ips.filter((ip) => ip !== pod!.ip).map((ip) => ({ ip })) },
            labels: pod.labels,
            annotations: pod.annotations,
            runtimeHandler: pod.runtimeHandler,
          }
        : null,
      containersStatuses: peers.map(containerStatus),
    };
  }
}

function dnsOf(pod: PodRecord) {
  const d = pod.config?.dnsConfig;
  if (!d) return null;
  for (const v of [...(d.servers ?? []), ...(d.searches ?? []), ...(d.options ?? [])]) {
    if (/[\s\0]/.test(v) || !v) throw E.InvalidArgument(`invalid DNS config entry "${v}": entries must be single words`);
  }
  return { servers: [...(d.servers ?? [])], searches: [...(d.searches ?? [])], options: [...(d.options ?? [])] };
}
