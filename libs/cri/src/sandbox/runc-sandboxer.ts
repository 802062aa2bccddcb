import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkService } from '@conga/api';
import { E, type CallContext } from '@conga/common';
import type { PodRecord } from '../pod-store';
import type { PodResources, Sandboxer } from './sandboxer';

const CGROUP_ROOT = '/sys/fs/cgroup';

export interface RuncSandboxerOptions {
  /** Where pods' pinned namespaces and /dev/shm live: <run>/cri/pods. */
  podsDir: string;
  network: NetworkService;
  /** The engine network pods join ("" = the daemon's default network). */
  networkName: string;
  /** Parent of the pod cgroups Conga makes itself (daemon.json "cgroup-parent"). */
  cgroupRoot: string;
  /** Size of each pod's /dev/shm tmpfs (docker's default 64 MiB). */
  shmSize?: number;
}

/** Run a helper; a failure is a CriSandboxFailed naming the step. */
function run(id: string, step: string, cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
  if (r.error || r.status !== 0) throw E.CriSandboxFailed(id, step, (r.error?.message ?? r.stderr ?? '').trim() || `${cmd} exited ${r.status}`);
}

const isMounted = (path: string): boolean =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4]?.replace(/\\040/g, ' ') === path);

function unmount(path: string): void {
  if (isMounted(path)) spawnSync('umount', [path], { stdio: 'ignore' });
  if (isMounted(path)) spawnSync('umount', ['-l', path], { stdio: 'ignore' });
}

/** cgroup v1 hierarchies (one dir per controller mount) or the v2 root. */
function cgroupDirs(path: string): string[] {
  const rel = path.replace(/^\/+/, '');
  let entries: string[];
  try {
    entries = readdirSync(CGROUP_ROOT);
  } catch {
    return [];
  }
  if (entries.includes('cgroup.controllers')) return [join(CGROUP_ROOT, rel)];
  return entries
    .map((e) => join(CGROUP_ROOT, e))
    .filter((d) => {
      try {
        return statSync(d).isDirectory() && !d.endsWith('/unified') && readdirSync(d).includes('cgroup.procs');
      } catch {
        return false;
      }
    })
    .map((d) => join(d, rel));
}

function removeTree(dir: string): void {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
    rmdirSync(dir);
  } catch {
    /* gone, or still populated: left for the next removal */
  }
}

/**
 * The default sandboxer: no pause container and no process per pod. A pod is a directory
 * `<podsDir>/<id>` holding its IPC and UTS namespaces pinned by bind mounts (made by
 * `unshare --ipc=FILE --uts=FILE hostname NAME`, so the hostname is set inside), a tmpfs for
 * /dev/shm, plus a netns pinned and wired by the network service (CNI, host ports) under the
 * pod id, and a cgroup parent. Containers join these (the engine's PodBinding).
 */
export class RuncSandboxer implements Sandboxer {
  private readonly waiters = new Map<string, Array<(r: { exitCode: number }) => void>>();

  constructor(private readonly opts: RuncSandboxerOptions) {}

  podDir(id: string): string {
    return join(this.opts.podsDir, id);
  }

  async create(pod: PodRecord, ctx: CallContext): Promise<PodRecord> {
    const ns = pod.config.linux?.securityContext?.namespaceOptions;
    const hostNet = ns?.network === 'NODE';
    const hostIpc = ns?.ipc === 'NODE';
    const dir = this.podDir(pod.id);
    const out: PodRecord = { ...pod, netnsPath: null, ipcPath: null, utsPath: null, shmPath: '' };
    out.pidMode = ns?.pid === 'NODE' ? 'host' : ns?.pid === 'CONTAINER' ? 'container' : 'pod';
    try {
      mkdirSync(join(dir, 'ns'), { recursive: true, mode: 0o711 });
      // IPC and UTS: pinned together, hostname set inside the new UTS namespace. A hostNetwork
      // pod keeps the host's UTS namespace (and so its hostname), as kubelet expects.
      const unshare: string[] = [];
      if (!hostIpc) {
        out.ipcPath = join(dir, 'ns', 'ipc');
        closeSync(openSync(out.ipcPath, 'w', 0o444));
        unshare.push(`--ipc=${out.ipcPath}`);
      }
      if (!hostNet) {
        out.utsPath = join(dir, 'ns', 'uts');
        closeSync(openSync(out.utsPath, 'w', 0o444));
        unshare.push(`--uts=${out.utsPath}`);
      }
      if (unshare.length) run(pod.id, 'pinning the IPC/UTS namespaces', 'unshare', [...unshare, ...(hostNet ? ['true'] : ['hostname', pod.hostname])]);
      if (!hostIpc) {
        out.shmPath = join(dir, 'shm');
        mkdirSync(out.shmPath, { mode: 0o1777 });
        run(pod.id, 'mounting /dev/shm', 'mount', ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,mode=1777,size=${this.opts.shmSize ?? 64 << 20}`, 'shm', out.shmPath]);
      }
      if (!pod.config.linux?.cgroupParent) {
        for (const d of cgroupDirs(out.cgroupParent)) mkdirSync(d, { recursive: true });
        // Pod-level limits bound the pod's containers together (only in a cgroup Conga made:
        // kubelet manages the ones it names).
        const r = pod.config.linux?.resources;
        if (r) await this.update(out, { cpuPeriod: r.cpuPeriod, cpuQuota: r.cpuQuota, cpuShares: r.cpuShares, memoryLimitInBytes: r.memoryLimitInBytes });
      }
      if (!hostNet) {
        const att = await this.opts.network.attach(
          {
            containerId: pod.id,
            network: this.opts.networkName,
            hostname: pod.hostname,
            filesDir: dir,
            name: pod.name,
            ports: pod.config.portMappings
              .filter((p) => p.hostPort > 0)
              .map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol.toLowerCase() })),
          },
          ctx,
        );
        out.netnsPath = att.netnsPath;
        const addrs = att.interfaces.flatMap((i) => i.addresses).map((a) => a.split('/')[0]);
        out.ip = addrs[0] ?? '';
        out.ips = addrs.slice(1);
      }
      applySysctls(out);
      return out;
    } catch (e) {
      await this.shutdown(out, ctx).catch((err) => ctx.log.warn({ err, pod: pod.id }, 'cleaning up a failed pod sandbox failed'));
      throw e;
    }
  }

  async start(): Promise<void> {
    /* nothing runs for a pod */
  }

  async stop(pod: PodRecord, ctx: CallContext): Promise<void> {
    if (pod.netnsPath === null && pod.config.linux?.securityContext?.namespaceOptions?.network === 'NODE') return;
    await this.opts.network.detach({ containerId: pod.id }, ctx).catch((e) => {
      if (!E.AttachmentNotFound.is(e)) throw e;
    });
  }

  wait(pod: PodRecord): Promise<{ exitCode: number }> {
    if (!existsSync(this.podDir(pod.id))) return Promise.resolve({ exitCode: 0 });
    return new Promise((resolve) => this.waiters.set(pod.id, [...(this.waiters.get(pod.id) ?? []), resolve]));
  }

  status(pod: PodRecord): { alive: boolean; detail: string } {
    for (const p of [pod.ipcPath, pod.utsPath, pod.shmPath || null]) {
      if (p && !isMounted(p)) return { alive: false, detail: `${p} is no longer mounted` };
    }
    return { alive: true, detail: '' };
  }

  async shutdown(pod: PodRecord, ctx: CallContext): Promise<void> {
    await this.stop(pod, ctx);
    const dir = this.podDir(pod.id);
    for (const p of [join(dir, 'ns', 'ipc'), join(dir, 'ns', 'uts'), join(dir, 'shm')]) unmount(p);
    rmSync(dir, { recursive: true, force: true });
    if (!pod.config.linux?.cgroupParent && pod.cgroupParent) for (const d of cgroupDirs(pod.cgroupParent)) removeTree(d);
    for (const w of this.waiters.get(pod.id) ?? []) w({ exitCode: 0 });
    this.waiters.delete(pod.id);
  }

  async update(pod: PodRecord, r: PodResources): Promise<void> {
    const files: Array<[string, string, number | undefined]> = [
      ['cpu', 'cpu.cfs_period_us', r.cpuPeriod],
      ['cpu', 'cpu.cfs_quota_us', r.cpuQuota],
      ['cpu', 'cpu.shares', r.cpuShares],
      ['memory', 'memory.limit_in_bytes', r.memoryLimitInBytes],
    ];
    for (const [ctl, file, v] of files) {
      if (!v || v < 0) continue;
      const dir = cgroupDirs(pod.cgroupParent).find((d) => d.startsWith(`${CGROUP_ROOT}/${ctl}/`) || d.startsWith(`${CGROUP_ROOT}/${ctl},`));
      if (!dir || !existsSync(dir)) continue;
      try {
        writeFileSync(join(dir, file), String(v));
      } catch (e) {
        // The kernel's range checks (a quota under 1ms, a period over 1s) are the caller's error.
        throw E.InvalidArgument(`pod resource ${file} = ${v} was refused by the kernel (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): use a value the cgroup accepts`);
      }
    }
  }
}

/**
 * Sysctls a pod may set: only namespaced ones, and only in a namespace the pod owns (net.* needs
 * its own netns, the IPC ones its own IPC namespace). kernel.hostname/domainname are the UTS
 * namespace's and come from the pod's hostname instead.
 */
export function validateSysctls(sysctls: Record<string, string>, opts: { hostNetwork: boolean; hostIpc: boolean }): void {
  for (const [name, value] of Object.entries(sysctls)) {
    if (!/^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$/.test(name)) throw E.CriSysctlInvalid(name, 'not a sysctl name (dotted, e.g. net.ipv4.ip_unprivileged_port_start)');
    // CVE-2022-0811: a value must not smuggle in a second "key=value" assignment.
    if (!value || /[=+\n\r\0,]/.test(value) || value.length > 4096) throw E.CriSysctlInvalid(name, `value "${value}" must be non-empty and contain none of = + , or line breaks`);
    const ipc = /^kernel\.(shm(all|max|mni)|shm_rmid_forced|msg(max|mnb|mni)|sem)$/.test(name) || name.startsWith('fs.mqueue.');
    const net = name.startsWith('net.');
    if (!ipc && !net) throw E.CriSysctlInvalid(name, 'only namespaced sysctls (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) may be set in a pod');
    if (net && opts.hostNetwork) throw E.CriSysctlInvalid(name, 'the pod uses the host network namespace; a net.* sysctl would change the host');
    if (ipc && opts.hostIpc) throw E.CriSysctlInvalid(name, 'the pod uses the host IPC namespace; an IPC sysctl would change the host');
  }
}

/** Write the (validated) sysctls inside the pod's pinned namespaces. */
function applySysctls(pod: PodRecord): void {
  for (const [name, value] of Object.entries(pod.config.linux?.sysctls ?? {})) {
    const nsArg = name.startsWith('net.') ? `--net=${pod.netnsPath}` : `--ipc=${pod.ipcPath}`;
    const file = join('/proc/sys', ...name.split('.'));
    const r = spawnSync('nsenter', [nsArg, '--', 'tee', file], { encoding: 'utf8', input: value, stdio: ['pipe', 'ignore', 'pipe'] });
    // The kernel's own check of the value (EINVAL, ERANGE) is the caller's error, not the sandbox's.
    if (r.status !== 0 && !r.error && /Invalid argument|out of range/i.test(r.stderr)) throw E.CriPodConfigInvalid(`sysctl ${name}="${value}" was refused by the kernel: ${r.stderr.trim()}`);
    if (r.error || r.status !== 0) throw E.CriSandboxFailed(pod.id, `setting sysctl ${name}`, (r.error?.message ?? r.stderr ?? '').trim() || `nsenter exited ${r.status}`);
  }
}
