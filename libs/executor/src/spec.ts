import { isAbsolute } from 'node:path';
import { E } from '@conga/common';
import type { ContainerSpec, Resources } from '@conga/api';
import { seccompFor, type SeccompProfile } from './seccomp';
import { resolveDevice } from './devices';

/**
 * OCI runtime spec (config.json) generation from a {@link ContainerSpec}. Pure: no I/O.
 * Owned by the executor; the shape follows runtime-spec 1.0.2 and docker's defaults.
 * Seccomp: Conga's own default profile (seccomp.ts) unless privileged or "unconfined".
 */

/** The subset of the OCI runtime spec Conga writes. Fields follow runtime-spec 1.0.2. */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  annotations: Record<string, string>;
  linux: {
    cgroupsPath: string;
    namespaces: { type: string; path?: string }[];
    resources: {
      devices: { allow: boolean; type?: string; major?: number; minor?: number; access: string }[];
      memory?: { limit?: number; swap?: number; reservation?: number };
      cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
      pids?: { limit: number };
      blockIO?: { weight: number };
    };
    devices?: { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }[];
    sysctl?: Record<string, string>;
    seccomp?: SeccompProfile;
    maskedPaths: string[];
    readonlyPaths: string[];
    rootfsPropagation?: string;
  };
}

/** Docker's default capability set (given to bounding, effective and permitted). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability Linux defines (up to 5.x), in number order: what "ALL" and privileged mean. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default masked paths (hidden from unprivileged containers). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi',
  '/sys/firmware', '/sys/devices/virtual/powercap',
];

/** Docker's default read-only paths. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_CGROUP_PARENT = '/conga';
export const DEFAULT_NOFILE = 1048576;
const NOFILE = DEFAULT_NOFILE;

/** Normalise a capability name ("net_admin", "CAP_NET_ADMIN") or throw InvalidArgument. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const cap = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(cap)) {
    throw E.InvalidArgument(`unknown capability "${name}": use a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL`);
  }
  return cap;
}

/** The effective capability set: defaults (or all when privileged), then capAdd, then capDrop. */
export function computeCapabilities(spec: Pick<ContainerSpec, 'privileged' | 'capAdd' | 'capDrop'>): string[] {
  if (spec.privileged) return [...ALL_CAPABILITIES];
  const add = (spec.capAdd ?? []).map(normalizeCapability);
  const drop = (spec.capDrop ?? []).map(normalizeCapability);
  let caps = new Set<string>(DEFAULT_CAPABILITIES);
  if (add.includes('ALL')) caps = new Set(ALL_CAPABILITIES);
  else for (const c of add) caps.add(c);
  if (drop.includes('ALL')) {
    // docker: --cap-drop ALL --cap-add X keeps only X.
    caps = new Set(add.filter((c) => c !== 'ALL'));
  } else for (const c of drop) caps.delete(c);
  return ALL_CAPABILITIES.filter((c) => caps.has(c));
}

function defaultMounts(privileged: boolean): OciSpec['mounts'] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
  ];
}

function defaultDevices(privileged: boolean): OciSpec['linux']['resources']['devices'] {
  if (privileged) return [{ allow: true, access: 'rwm' }];
  const c = (major: number, minor: number | undefined) => ({ allow: true, type: 'c', major, ...(minor === undefined ? {} : { minor }), access: 'rwm' });
  return [
    { allow: false, access: 'rwm' },
    c(1, 3), // null
    c(1, 5), // zero
    c(1, 7), // full
    c(1, 8), // random
    c(1, 9), // urandom
    c(5, 0), // tty
    c(5, 2), // ptmx
    c(136, undefined), // pts/*
  ];
}

function checkId(n: number | undefined, what: string): number {
  const v = n ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw E.InvalidArgument(`${what} ${v} is not a valid id: use 0..4294967294`);
  return v;
}

/** Host-dependent inputs of {@link generateSpec}. */
export interface GenerateSpecOptions {
  /** cgroup parent used when the spec has none (default "/conga"). */
  cgroupParent?: string;
  /**
   * RLIMIT_NOFILE soft and hard value (default 1048576 like docker). Without CAP_SYS_RESOURCE
   * runc cannot raise the hard limit above its own, so the service clamps this to the host's.
   */
  nofile?: number;
  /** Capabilities the host lets runc grant (the executor's bounding set); default: all known. */
  hostCapabilities?: readonly string[];
}

/**
 * Build config.json for `containerId` from `spec`. `cgroupParent` is used when the spec has
 * none. Throws InvalidArgument for a spec that cannot run (no args, relative rootfs or mount
 * destination, unknown capability).
 */
export function generateSpec(containerId: string, spec: ContainerSpec, opts: GenerateSpecOptions = {}): OciSpec {
  const cgroupParent = opts.cgroupParent ?? DEFAULT_CGROUP_PARENT;
  const nofile = opts.nofile ?? NOFILE;
  const proc = spec.process ?? {};
  const args = proc.args ?? [];
  if (args.length === 0 || args[0] === '') throw E.InvalidArgument('the container spec has no command: set process.args (e.g. ["sh", "-c", "..."])');
  const rootfs = spec.rootfs ?? '';
  if (!isAbsolute(rootfs)) throw E.InvalidArgument(`rootfs "${rootfs}" must be an absolute path to the mounted root filesystem`);
  const cwd = proc.cwd || '/';
  if (!isAbsolute(cwd)) throw E.InvalidArgument(`working directory "${cwd}" must be absolute`);
  const privileged = !!spec.privileged;

  const env = [...(proc.env ?? [])];
  for (const e of env) if (!e.includes('=') || e.startsWith('=')) throw E.InvalidArgument(`environment entry "${e}" must look like NAME=value`);
  if (!env.some((e) => e.startsWith('PATH='))) env.push(DEFAULT_PATH_ENV);
  if (proc.terminal && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');

  const user = proc.user ?? {};
  const additionalGids = (user.additionalGids ?? []).map((g) => checkId(g, 'additional gid'));
  const host = opts.hostCapabilities ? new Set(opts.hostCapabilities) : undefined;
  const caps = computeCapabilities(spec).filter((c) => !host || host.has(c));

  const extraMounts = (spec.mounts ?? []).map((m) => {
    if (!m.destination || !isAbsolute(m.destination)) throw E.InvalidArgument(`mount destination "${m.destination ?? ''}" must be an absolute path`);
    const type = m.type || 'bind';
    const options = [...(m.options ?? [])];
    if (type === 'bind' && !options.includes('bind') && !options.includes('rbind')) options.unshift('rbind');
    return { destination: m.destination, type, source: m.source ?? '', options };
  });
  // A request mount replaces a default one at the same destination (e.g. a bigger /dev/shm).
  const overridden = new Set(extraMounts.map((m) => m.destination));
  const mounts = [...defaultMounts(privileged).filter((m) => !overridden.has(m.destination)), ...extraMounts];
  const rootfsPropagation = rootfsPropagationFor(extraMounts);

  // Each of pid/ipc/uts/network: "" a new namespace, "host" none (the host's), else join the path.
  const namespaces: OciSpec['linux']['namespaces'] = [];
  const joinNs = (type: string, path: string, what: string) => {
    if (path === '') namespaces.push({ type });
    else if (path !== 'host') {
      if (!isAbsolute(path)) throw E.InvalidArgument(`${what} path "${path}" must be absolute, empty (new namespace) or "host"`);
      namespaces.push({ type, path });
    }
  };
  joinNs('pid', spec.pidPath ?? '', 'pid namespace');
  joinNs('ipc', spec.ipcPath ?? '', 'ipc namespace');
  const uts = spec.utsPath ?? '';
  joinNs('uts', uts, 'uts namespace');
  namespaces.push({ type: 'mount' });
  const netns = spec.netnsPath ?? '';
  joinNs('network', netns, 'netns');

  const sysctl = checkSysctls(spec.sysctls ?? {}, netns === 'host');
  const devices = (spec.devices ?? []).map((d) => resolveDevice(d.pathOnHost ?? '', d.pathInContainer ?? '', d.permissions ?? ''));
  for (const d of devices) if (!overridden.has(d.path) && !isAbsolute(d.path)) throw E.InvalidArgument(`device path "${d.path}" must be absolute`);
  const seccomp = privileged ? undefined : seccompFor(spec.seccompProfile ?? '', caps);

  let parent = spec.cgroupParent || cgroupParent;
  if (!parent.startsWith('/')) parent = `/${parent}`;
  parent = parent.replace(/\/+$/, '');

  return {
    ociVersion: '1.0.2',
    process: {
      terminal: !!proc.terminal,
      user: { uid: checkId(user.uid, 'uid'), gid: checkId(user.gid, 'gid'), ...(additionalGids.length ? { additionalGids } : {}) },
      args,
      env,
      cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: rlimitsOf(spec, nofile),
      noNewPrivileges: !!spec.noNewPrivileges,
    },
    root: { path: rootfs, readonly: !!spec.readonlyRootfs },
    // runc can set a hostname only in a UTS namespace of the container's own (new or joined).
    hostname: uts === 'host' ? '' : (spec.hostname ?? ''),
    mounts,
    annotations: { ...(spec.annotations ?? {}) },
    linux: {
      cgroupsPath: `${parent}/${containerId}`,
      namespaces,
      resources: { devices: [...defaultDevices(privileged), ...devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access }))], ...ociResources(spec.resources) },
      ...(devices.length ? { devices: devices.map((d) => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: 0, gid: 0 })) } : {}),
      ...(Object.keys(sysctl).length ? { sysctl } : {}),
      ...(seccomp ? { seccomp } : {}),
      maskedPaths: privileged ? [] : systemPaths(spec.maskedPaths, spec.unmaskPaths ? [] : DEFAULT_MASKED_PATHS, 'masked'),
      readonlyPaths: privileged ? [] : systemPaths(spec.readonlyPaths, spec.unmaskPaths ? [] : DEFAULT_READONLY_PATHS, 'read-only'),
      ...(rootfsPropagation ? { rootfsPropagation } : {}),
    },
  };
}

/** A non-empty requested list replaces the defaults; its paths must be absolute. */
function systemPaths(requested: readonly string[] | undefined, defaults: readonly string[], what: string): string[] {
  if (!requested?.length) return [...defaults];
  for (const p of requested) if (!isAbsolute(p)) throw E.InvalidArgument(`${what} path "${p}" must be absolute`);
  return [...new Set(requested)];
}

/**
 * runc makes the rootfs rslave by default, which cuts a shared bind mount off from its host peers.
 * As dockerd and containerd do: any (r)shared bind → rootfs rshared (mounts made inside reach the
 * host); else any (r)slave bind → rootfs rslave; otherwise runc's default.
 */
function rootfsPropagationFor(mounts: { options: string[] }[]): string | undefined {
  const opts = new Set(mounts.flatMap((m) => m.options));
  if (opts.has('shared') || opts.has('rshared')) return 'rshared';
  if (opts.has('slave') || opts.has('rslave')) return 'rslave';
  return undefined;
}

const RLIMIT_NAMES = new Set([
  'RLIMIT_AS', 'RLIMIT_CORE', 'RLIMIT_CPU', 'RLIMIT_DATA', 'RLIMIT_FSIZE', 'RLIMIT_LOCKS', 'RLIMIT_MEMLOCK',
  'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_NOFILE', 'RLIMIT_NPROC', 'RLIMIT_RSS', 'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME', 'RLIMIT_SIGPENDING', 'RLIMIT_STACK',
]);

/** RLIMIT_NOFILE by default, replaced or extended by the spec's rlimits (validated). */
function rlimitsOf(spec: ContainerSpec, nofile: number): OciSpec['process']['rlimits'] {
  const out = new Map<string, { type: string; hard: number; soft: number }>([['RLIMIT_NOFILE', { type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }]]);
  for (const r of spec.rlimits ?? []) {
    const type = (r.type ?? '').toUpperCase();
    if (!RLIMIT_NAMES.has(type)) throw E.InvalidArgument(`unknown rlimit "${r.type}": use a name such as nofile, nproc or core`);
    const soft = Number(r.soft ?? 0);
    const hard = Number(r.hard ?? 0);
    if (soft > hard) throw E.InvalidArgument(`ulimit ${type}: the soft limit ${soft} is above the hard limit ${hard}`);
    out.set(type, { type, hard, soft });
  }
  return [...out.values()];
}

/** The OCI linux.resources entries for `r` (only what is set), for cgroup v1 and v2 alike. */
export function ociResources(r: Resources | undefined | null, opts: { partial?: boolean } = {}): Omit<OciSpec['linux']['resources'], 'devices'> {
  if (!r) return {};
  const out: Omit<OciSpec['linux']['resources'], 'devices'> = {};
  const num = (v: unknown) => Number(v ?? 0);
  const memory = num(r.memory);
  const swap = num(r.memorySwap);
  const reservation = num(r.memoryReservation);
  if (memory < 0 || reservation < 0) throw E.InvalidArgument('memory limits must not be negative');
  if (memory > 0 && memory < 6 * 1024 * 1024) throw E.InvalidArgument('Minimum memory limit allowed is 6MB');
  if (swap > 0 && memory > 0 && swap < memory) throw E.InvalidArgument('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (swap !== 0 && memory === 0 && !opts.partial) throw E.InvalidArgument('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (memory || swap || reservation) out.memory = { ...(memory ? { limit: memory } : {}), ...(swap ? { swap } : {}), ...(reservation ? { reservation } : {}) };
  const cpu: NonNullable<OciSpec['linux']['resources']['cpu']> = {};
  if (num(r.cpuShares)) cpu.shares = num(r.cpuShares);
  if (num(r.cpuQuota)) cpu.quota = num(r.cpuQuota);
  if (num(r.cpuPeriod)) cpu.period = num(r.cpuPeriod);
  if (r.cpusetCpus) {
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(r.cpusetCpus)) throw E.InvalidArgument(`invalid cpuset "${r.cpusetCpus}": use a list such as 0-2,4`);
    cpu.cpus = r.cpusetCpus;
  }
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length) out.cpu = cpu;
  const pids = num(r.pidsLimit);
  if (pids !== 0) out.pids = { limit: pids < 0 ? -1 : pids };
  if (num(r.blkioWeight)) {
    const w = num(r.blkioWeight);
    if (w < 10 || w > 1000) throw E.InvalidArgument(`blkio weight ${w} is out of range: use 10..1000`);
    out.blockIO = { weight: w };
  }
  return out;
}

const NAMESPACED_SYSCTL = /^(kernel\.(shmmax|shmall|shmmni|shm_rmid_forced|msgmax|msgmnb|msgmni|sem)|fs\.mqueue\.[a-z_]+|net\.[a-z0-9_.\-/]+)$/;

/**
 * Check sysctls against the allow-list of namespaced ones (docker's rule): IPC ones always,
 * net.* only when the container has its own network namespace. Each stays its own key/value.
 */
export function checkSysctls(sysctls: Record<string, string>, hostNetwork: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(sysctls)) {
    if (!NAMESPACED_SYSCTL.test(k) || k.includes('..')) throw E.InvalidArgument(`sysctl "${k}" is not allowed: only namespaced sysctls (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*) can be set`);
    if (k.startsWith('net.') && hostNetwork) throw E.InvalidArgument(`sysctl "${k}" is not allowed in the host network namespace`);
    // CVE-2022-0811: one value per key; a "+" or "=" could smuggle a second assignment to a tool that splits.
    if (typeof v !== 'string' || v === '' || /[=+\n\r\0]/.test(v)) throw E.InvalidArgument(`sysctl "${k}" has an invalid value "${v}": give one non-empty value without "=", "+" or line breaks`);
    out[k] = v;
  }
  return out;
}
