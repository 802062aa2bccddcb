import { randomBytes } from 'node:crypto';
import { E, KeyedMutex, type CallContext } from '@conga/common';
import type { Engine } from '@conga/engine';
import type { PodSandboxConfig__Output } from '@conga/api/src/generated/runtime/v1/PodSandboxConfig';
import type { PodSandboxFilter__Output } from '@conga/api/src/generated/runtime/v1/PodSandboxFilter';
import { containerStatus } from './container-status';
import { PodStore, type PodRecord } from './pod-store';
import type { PodAccess, PodRpcs } from './runtime-service';
import type { Sandboxer } from './sandbox/sandboxer';
import { validateSysctls } from './sandbox/runc-sandboxer';

export interface PodServiceOptions {
  store: PodStore;
  engine: Engine;
  /** RuntimeClass handler → sandboxer ("" is the default handler). */
  sandboxers: Map<string, Sandboxer>;
  /** Parent of the pod cgroups Conga makes (daemon.json "cgroup-parent"). */
  cgroupRoot: string;
}

const nowNs = () => Date.now() * 1e6;
const criState = (p: PodRecord) => (p.state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY');

/**
 * CRI pod sandboxes: records in the PodStore, what backs them from the handler's Sandboxer.
 * Calls for one pod run one at a time. Stop and Remove are idempotent (the CRI contract:
 * reclaimed resources are not an error), and both stop or remove the pod's containers first.
 */
export class PodService implements PodRpcs, PodAccess {
  private readonly locks = new KeyedMutex();

  constructor(private readonly opts: PodServiceOptions) {}

  getPod(id: string): PodRecord {
    const p = this.opts.store.find(id);
    if (!p) throw E.CriPodNotFound(id);
    return p;
  }

  listPods(): PodRecord[] {
    return this.opts.store.list();
  }

  private sandboxer(handler: string): Sandboxer {
    const s = this.opts.sandboxers.get(handler);
    if (!s) throw E.CriRuntimeHandlerUnknown(handler, [...this.opts.sandboxers.keys()].map((k) => `"${k}"`).join(', '));
    return s;
  }

  /** An existing pod's sandboxer; a handler since dropped from daemon.json falls back to the default one. */
  private sandboxerOf(pod: PodRecord): Sandboxer {
    return this.opts.sandboxers.get(pod.runtimeHandler) ?? this.sandboxer('');
  }

  /**
   * After an engine restart: a ready pod whose pinned namespaces are gone (the run directory was
   * wiped, a reboot) is NotReady, so kubelet replaces it.
   */
  recover(ctx: CallContext): void {
    for (const p of this.opts.store.list()) {
      if (p.state !== 'ready') continue;
      const st = this.sandboxerOf(p).status(p);
      if (!st.alive) {
        ctx.log.warn({ pod: p.id, detail: st.detail }, 'pod sandbox lost while the engine was down: now NotReady');
        this.opts.store.save({ ...p, state: 'notready' });
      }
    }
  }

  async runPodSandbox(req: { config: PodSandboxConfig__Output | null; runtimeHandler: string }, ctx: CallContext): Promise<{ podSandboxId: string }> {
    const config = req.config;
    const md = config?.metadata;
    if (!config || !md?.name || !md.uid || !md.namespace) throw E.CriPodConfigInvalid('metadata name, uid and namespace are required');
    const sandboxer = this.sandboxer(req.runtimeHandler);
    const ns = config.linux?.securityContext?.namespaceOptions;
    validateSysctls(config.linux?.sysctls ?? {}, { hostNetwork: ns?.network === 'NODE', hostIpc: ns?.ipc === 'NODE' });
    // Without a hostname the pod name is the hostname: it must be a valid one too.
    const hostname = config.hostname || md.name.slice(0, 63);
    // RFC 1123 labels (no '-' at either end of a label, no empty label): what `hostname` accepts.
    if (hostname.length > 63 || !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(hostname)) {
      throw E.CriPodConfigInvalid(`hostname "${hostname}"${config.hostname ? '' : ' (from metadata.name)'} is not a valid host name (letters, digits, '-' and '.', at most 63)`);
    }
    // The cgroup parent names a path below the cgroup roots, and logs go to an absolute directory.
    const cgroupParent = config.linux?.cgroupParent ?? '';
    if (cgroupParent.split('/').includes('..')) throw E.CriPodConfigInvalid(`linux.cgroup_parent "${cgroupParent}" must not contain ".."`);
    if (config.logDirectory && !config.logDirectory.startsWith('/')) throw E.CriPodConfigInvalid(`log_directory "${config.logDirectory}" must be an absolute path`);
    for (const p of config.portMappings) {
      if (p.hostPort < 0 || p.hostPort > 65535 || p.containerPort < 0 || p.containerPort > 65535) {
        throw E.CriPodConfigInvalid(`port mapping ${p.hostPort}:${p.containerPort} is out of range (0-65535)`);
      }
    }
    const id = randomBytes(32).toString('hex');
    const record: PodRecord = {
      id,
      name: md.name,
      uid: md.uid,
      namespace: md.namespace,
      attempt: md.attempt,
      state: 'notready',
      createdAt: nowNs(),
      labels: config.labels,
      annotations: config.annotations,
      config,
      runtimeHandler: req.runtimeHandler,
      netnsPath: null,
      ipcPath: null,
      utsPath: null,
      pidMode: 'pod',
      cgroupParent: config.linux?.cgroupParent || `${this.opts.cgroupRoot.replace(/\/+$/, '')}/pod-${id.slice(0, 12)}`,
      shmPath: '',
      hostname,
      ip: '',
      ips: [],
      logDirectory: config.logDirectory,
    };
    // Reserving the name first makes a concurrent duplicate fail before touching anything.
    this.opts.store.insert(record);
    return this.locks.run(id, async () => {
      try {
        const made = await sandboxer.create(record, ctx);
        await sandboxer.start(made, ctx);
        this.opts.store.save({ ...made, state: 'ready' });
      } catch (e) {
        this.opts.store.remove(id);
        throw e;
      }
      return { podSandboxId: id };
    });
  }

  async stopPodSandbox(req: { podSandboxId: string }, ctx: CallContext): Promise<Record<string, never>> {
    const found = this.opts.store.find(req.podSandboxId);
    if (!found) return {};
    await this.locks.run(found.id, async () => {
      const pod = this.opts.store.find(found.id);
      if (!pod) return;
      await this.forPodContainers(pod.id, (id) => this.opts.engine.containers.stop(id, 0, ctx).then(() => undefined));
      await this.sandboxerOf(pod).stop(pod, ctx);
      if (pod.state !== 'notready') this.opts.store.save({ ...pod, state: 'notready' });
    });
    return {};
  }

  async removePodSandbox(req: { podSandboxId: string }, ctx: CallContext): Promise<Record<string, never>> {
    const found = this.opts.store.find(req.podSandboxId);
    if (!found) return {};
    await this.locks.run(found.id, async () => {
      const pod = this.opts.store.find(found.id);
      if (!pod) return;
      await this.forPodContainers(pod.id, (id) => this.opts.engine.containers.remove(id, { force: true }, ctx));
      await this.sandboxerOf(pod).shutdown(pod, ctx);
      this.opts.store.remove(pod.id);
    });
    return {};
  }

  async podSandboxStatus(req: { podSandboxId: string; verbose: boolean }): Promise<unknown> {
    const pod = this.getPod(req.podSandboxId);
    const ns = pod.config.linux?.securityContext?.namespaceOptions;
    const status = {
      id: pod.id,
      metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: pod.attempt },
      state: criState(pod),
      createdAt: pod.createdAt,
      network: { ip: pod.ip, additionalIps: pod.ips.map((ip) => ({ ip })) },
      linux: { namespaces: { options: { network: ns?.network ?? 'POD', pid: ns?.pid ?? 'POD', ipc: ns?.ipc ?? 'POD', targetId: '' } } },
      labels: pod.labels,
      annotations: pod.annotations,
      runtimeHandler: pod.runtimeHandler,
    };
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        pid: 0,
        processStatus: 'none: the runc sandboxer runs no process per pod',
        netNamespacePath: pod.netnsPath ?? '',
        ipcNamespacePath: pod.ipcPath ?? '',
        utsNamespacePath: pod.utsPath ?? '',
        shmPath: pod.shmPath,
        cgroupParent: pod.cgroupParent,
        hostname: pod.hostname,
        runtimeHandler: pod.runtimeHandler,
        config: pod.config,
      });
    }
    // As containerd: the statuses of the pod's containers, oldest first.
    const containersStatuses = this.opts.engine.containers.store
      .list()
      .filter((c) => c.Pod?.podId === pod.id)
      .sort((a, b) => a.Created.localeCompare(b.Created))
      .map(containerStatus);
    return { status, info, containersStatuses, timestamp: nowNs() };
  }

  async listPodSandbox(req: { filter: PodSandboxFilter__Output | null }): Promise<unknown> {
    const f = req.filter;
    const items = this.opts.store
      .list()
      .filter((p) => !f?.id || p.id === f.id || p.id.startsWith(f.id))
      .filter((p) => !f?.state || criState(p) === f.state.state)
      .filter((p) => Object.entries(f?.labelSelector ?? {}).every(([k, v]) => p.labels[k] === v))
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((p) => ({
        id: p.id,
        metadata: { name: p.name, uid: p.uid, namespace: p.namespace, attempt: p.attempt },
        state: criState(p),
        createdAt: p.createdAt,
        labels: p.labels,
        annotations: p.annotations,
        runtimeHandler: p.runtimeHandler,
      }));
    return { items };
  }

  /** Apply `fn` to every engine container of the pod (all of them, then the first error). */
  private async forPodContainers(podId: string, fn: (id: string) => Promise<void>): Promise<void> {
    const ids = this.opts.engine.containers
      .list(true)
      .filter((c) => c.Pod?.podId === podId)
      .map((c) => c.Id);
    const results = await Promise.allSettled(ids.map(fn));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !E.ContainerNotFound.is(r.reason));
    if (failed) throw failed.reason;
  }
}
