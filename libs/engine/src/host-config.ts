import { statSync } from 'node:fs';
import { isAbsolute, posix } from 'node:path';
import { E } from '@conga/common';
import type { ContainerSpec, Mount } from '@conga/api';
import type { ContainerConfig, HostConfig, MountSpec } from './container-types';

/**
 * HostConfig (Docker Engine API) → validation at create time and the executor's ContainerSpec
 * fields at start time: mounts (-v, --mount, --tmpfs), resources, ulimits, security options,
 * devices, sysctls. Pure apart from stat() of bind sources. Owner: engine (containers).
 */

const RESTART_POLICIES = new Set(['', 'no', 'always', 'on-failure', 'unless-stopped']);
const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
const ULIMITS = new Set(['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Where a named volume lives; provided by the engine's volume store. */
export type VolumeResolver = (name: string, create: boolean) => string;

/** A destination inside the container: absolute, normalised, no "..", not "/". */
export function containerPath(dest: string, what: string): string {
  if (typeof dest !== 'string' || !dest.startsWith('/')) throw E.InvalidArgument(`invalid ${what} "${dest}": the container path must be absolute`);
  if (dest.split('/').includes('..')) throw E.InvalidArgument(`invalid ${what} "${dest}": the container path must not contain ".."`);
  const n = posix.normalize(dest).replace(/\/+$/, '');
  if (n === '' || n === '/') throw E.InvalidArgument(`invalid ${what} "${dest}": destination can't be '/'`);
  return n;
}

function checkBindSource(src: string, spec: string): void {
  if (!isAbsolute(src)) throw E.InvalidArgument(`invalid mount config for type "bind": invalid mount path "${src}": the host path must be absolute`);
  try {
    statSync(src);
  } catch {
    throw E.InvalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${src} (in "${spec}"): create it first or fix the path`);
  }
}

/** One parsed -v entry. */
export interface ParsedBind {
  source: string;
  target: string;
  readOnly: boolean;
  propagation: string;
  /** True when source is a named volume. */
  volume: boolean;
}

/** Parse docker's `-v SRC:DST[:OPTS]` (or `-v DST` for an anonymous volume, refused here). */
export function parseBind(spec: string): ParsedBind {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw E.InvalidArgument(`invalid volume specification: '${spec}': use SOURCE:DESTINATION[:ro|rw]`);
  }
  const [source, dest, opts = ''] = parts;
  let readOnly = false;
  let propagation = 'rprivate';
  for (const o of opts.split(',').filter(Boolean)) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (PROPAGATIONS.has(o)) propagation = o;
    else if (o === 'z' || o === 'Z' || o === 'nocopy' || o === 'consistent' || o === 'cached' || o === 'delegated') continue;
    else throw E.InvalidArgument(`invalid volume specification: '${spec}': unknown option "${o}"`);
  }
  const volume = !source.startsWith('/');
  if (volume && !VOLUME_NAME.test(source)) throw E.InvalidArgument(`invalid volume specification: '${spec}': "${source}" is neither an absolute host path nor a valid volume name`);
  return { source, target: containerPath(dest, 'volume destination'), readOnly, propagation, volume };
}

function parseSecurityOpts(opts: string[]): { noNewPrivileges: boolean; seccomp: string; unmaskPaths: boolean } {
  let noNewPrivileges = false;
  let seccomp = '';
  let unmaskPaths = false;
  for (const raw of opts) {
    const i = raw.search(/[=:]/);
    const key = i < 0 ? raw : raw.slice(0, i);
    const val = i < 0 ? '' : raw.slice(i + 1);
    switch (key) {
      case 'no-new-privileges':
        if (!['', 'true', 'false'].includes(val)) throw E.InvalidArgument(`invalid --security-opt "${raw}": use no-new-privileges or no-new-privileges=true|false`);
        noNewPrivileges = val !== 'false';
        break;
      case 'seccomp':
        if (!val) throw E.InvalidArgument(`invalid --security-opt "${raw}": use seccomp=unconfined or seccomp=PROFILE.json`);
        seccomp = val;
        break;
      case 'systempaths':
        if (val !== 'unconfined') throw E.InvalidArgument(`invalid --security-opt "${raw}": only systempaths=unconfined is supported`);
        unmaskPaths = true;
        break;
      case 'apparmor':
      case 'label':
        // No AppArmor or SELinux on Conga hosts yet: accepted and ignored like on hosts without them.
        break;
      default:
        throw E.InvalidArgument(`invalid --security-opt "${raw}": use no-new-privileges, seccomp=..., apparmor=..., label=... or systempaths=unconfined`);
    }
  }
  return { noNewPrivileges, seccomp, unmaskPaths };
}

/** Throw InvalidArgument for anything wrong in `hc` (create time: nothing exists yet). */
export function validateHostConfig(hc: HostConfig, cfg: ContainerConfig): void {
  const rp = hc.RestartPolicy?.Name ?? '';
  if (!RESTART_POLICIES.has(rp)) throw E.InvalidArgument(`invalid restart policy '${rp}': use no, always, on-failure[:max-retries] or unless-stopped`);
  if ((hc.RestartPolicy?.MaximumRetryCount ?? 0) < 0) throw E.InvalidArgument('maximum retry count cannot be negative');
  if (rp !== 'on-failure' && (hc.RestartPolicy?.MaximumRetryCount ?? 0) > 0) throw E.InvalidArgument(`maximum retry count cannot be used with restart policy '${rp}'`);
  if (hc.AutoRemove && rp !== '' && rp !== 'no') throw E.InvalidArgument('conflicting options: cannot both remove and restart containers (--rm and --restart)');
  const nonNeg: Array<keyof HostConfig> = ['Memory', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'BlkioWeight'];
  for (const k of nonNeg) {
    const v = hc[k];
    if (v != null && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) throw E.InvalidArgument(`HostConfig.${k} must be a non-negative number`);
  }
  if (hc.Memory && hc.Memory < 6 * 1024 * 1024) throw E.InvalidArgument('Minimum memory limit allowed is 6MB');
  if (hc.MemorySwap && hc.MemorySwap > 0) {
    if (!hc.Memory) throw E.InvalidArgument('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (hc.MemorySwap < hc.Memory) throw E.InvalidArgument('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (hc.NanoCpus && (hc.CpuQuota || hc.CpuPeriod)) throw E.InvalidArgument('Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
  if (hc.NanoCpus && hc.NanoCpus < 1e7) throw E.InvalidArgument('Range of CPUs is from 0.01 to the number of CPUs available on the system');
  if (hc.CpusetCpus && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(hc.CpusetCpus)) throw E.InvalidArgument(`Invalid value ${hc.CpusetCpus} for cpuset cpus: use a list such as 0-2,4`);
  for (const u of hc.Ulimits ?? []) {
    if (!ULIMITS.has(String(u?.Name))) throw E.InvalidArgument(`invalid ulimit type: ${u?.Name}`);
    if (!Number.isInteger(u.Soft) || !Number.isInteger(u.Hard) || u.Soft < -1 || u.Hard < -1) throw E.InvalidArgument(`invalid ulimit ${u.Name}: soft and hard must be integers`);
    if (u.Hard !== -1 && (u.Soft === -1 || u.Soft > u.Hard)) throw E.InvalidArgument(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
  }
  parseSecurityOpts(hc.SecurityOpt ?? []);
  if (cfg.StopTimeout != null && (!Number.isInteger(cfg.StopTimeout) || cfg.StopTimeout < -1)) throw E.InvalidArgument('StopTimeout must be an integer number of seconds');
  const seen = new Set<string>();
  const dest = (d: string) => {
    if (seen.has(d)) throw E.InvalidArgument(`Duplicate mount point: ${d}`);
    seen.add(d);
  };
  for (const b of hc.Binds ?? []) {
    const p = parseBind(b);
    if (!p.volume) checkBindSource(p.source, b);
    dest(p.target);
  }
  for (const m of hc.Mounts ?? []) dest(checkMount(m));
  for (const t of Object.keys(hc.Tmpfs ?? {})) dest(containerPath(t, 'tmpfs destination'));
  for (const [k, v] of Object.entries(hc.Sysctls ?? {})) {
    if (typeof v !== 'string' || !/^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$/.test(k)) throw E.InvalidArgument(`invalid sysctl "${k}": use a dotted name such as net.ipv4.ip_forward with a string value`);
    // CVE-2022-0811: each value is one argument; "+" or "=" could smuggle in a second assignment.
    if (v === '' || /[=+\n\r\0]/.test(v)) throw E.InvalidArgument(`invalid sysctl ${k}="${v}": the value must be non-empty and contain no "=", "+" or line breaks`);
  }
}

function checkMount(m: MountSpec): string {
  if (!m || typeof m !== 'object') throw E.InvalidArgument('invalid mount config: each mount needs Type and Target');
  const target = containerPath(m.Target, `mount config for type "${m.Type}": target`);
  switch (m.Type) {
    case 'bind':
      if (!m.Source) throw E.InvalidArgument('invalid mount config for type "bind": field Source must not be empty');
      checkBindSource(m.Source, `type=bind,source=${m.Source}`);
      if (m.BindOptions?.Propagation && !PROPAGATIONS.has(m.BindOptions.Propagation)) throw E.InvalidArgument(`invalid propagation mode "${m.BindOptions.Propagation}"`);
      break;
    case 'tmpfs':
      if (m.Source) throw E.InvalidArgument('invalid mount config for type "tmpfs": field Source must be empty');
      break;
    case 'volume':
      if (m.Source && !VOLUME_NAME.test(m.Source)) throw E.InvalidArgument(`invalid mount config for type "volume": invalid volume name "${m.Source}"`);
      if (!m.Source) throw E.InvalidArgument('invalid mount config for type "volume": anonymous volumes are not supported yet: give a name (source=NAME)');
      break;
    default:
      throw E.InvalidArgument(`invalid mount config: mount type unknown: "${m.Type}": use bind, volume or tmpfs`);
  }
  return target;
}

function tmpfsOptions(opts: string): string[] {
  const list = opts.split(',').map((s) => s.trim()).filter(Boolean);
  for (const o of list) if (!/^(rw|ro|exec|noexec|suid|nosuid|dev|nodev|size=\d+[kmgKMG%]?|mode=[0-7]{3,4}|uid=\d+|gid=\d+|nr_inodes=\d+[kmgKMG]?)$/.test(o)) throw E.InvalidArgument(`invalid tmpfs option "${o}"`);
  const defaults = ['noexec', 'nosuid', 'nodev'].filter((d) => !list.some((o) => o === d || o === d.slice(2)));
  return [...defaults, ...list];
}

/** The mounts of `-v`, `--mount` and `--tmpfs`, bind sources checked again (they may be gone). */
export function userMounts(hc: HostConfig, volume: VolumeResolver): Mount[] {
  const out: Mount[] = [];
  for (const b of hc.Binds ?? []) {
    const p = parseBind(b);
    const source = p.volume ? volume(p.source, true) : p.source;
    if (!p.volume) checkBindSource(source, b);
    out.push({ destination: p.target, type: 'bind', source, options: ['rbind', p.propagation, p.readOnly ? 'ro' : 'rw'] });
  }
  for (const m of hc.Mounts ?? []) {
    const target = checkMount(m);
    if (m.Type === 'tmpfs') {
      const o = ['noexec', 'nosuid', 'nodev'];
      if (m.TmpfsOptions?.SizeBytes) o.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode) o.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      if (m.ReadOnly) o.push('ro');
      out.push({ destination: target, type: 'tmpfs', source: 'tmpfs', options: o });
    } else {
      const source = m.Type === 'volume' ? volume(m.Source!, true) : m.Source!;
      out.push({ destination: target, type: 'bind', source, options: ['rbind', m.BindOptions?.Propagation || 'rprivate', m.ReadOnly ? 'ro' : 'rw'] });
    }
  }
  for (const [t, opts] of Object.entries(hc.Tmpfs ?? {})) {
    out.push({ destination: containerPath(t, 'tmpfs destination'), type: 'tmpfs', source: 'tmpfs', options: tmpfsOptions(opts ?? '') });
  }
  return out;
}

/** The executor spec fields HostConfig controls (besides mounts, network and process). */
export function specFromHostConfig(hc: HostConfig): Pick<ContainerSpec, 'resources' | 'rlimits' | 'noNewPrivileges' | 'seccompProfile' | 'unmaskPaths' | 'maskedPaths' | 'readonlyPaths' | 'devices' | 'sysctls'> {
  const sec = parseSecurityOpts(hc.SecurityOpt ?? []);
  return {
    resources: resourcesFromHostConfig(hc),
    rlimits: (hc.Ulimits ?? []).map((u) => ({ type: `RLIMIT_${u.Name.toUpperCase()}`, soft: u.Soft < 0 ? 2 ** 53 - 1 : u.Soft, hard: u.Hard < 0 ? 2 ** 53 - 1 : u.Hard })),
    noNewPrivileges: sec.noNewPrivileges,
    seccompProfile: sec.seccomp,
    unmaskPaths: sec.unmaskPaths,
    maskedPaths: hc.MaskedPaths ?? [],
    readonlyPaths: hc.ReadonlyPaths ?? [],
    devices: (hc.Devices ?? []).map((d) => ({ pathOnHost: d.PathOnHost, pathInContainer: d.PathInContainer || d.PathOnHost, permissions: d.CgroupPermissions || 'rwm' })),
    sysctls: hc.Sysctls ?? {},
  };
}

/** HostConfig resources in the executor's form (docker's defaults: swap = 2 × memory). */
export function resourcesFromHostConfig(hc: HostConfig): NonNullable<ContainerSpec['resources']> {
  const memory = hc.Memory ?? 0;
  let swap = hc.MemorySwap ?? 0;
  if (memory > 0 && swap === 0) swap = memory * 2;
  let quota = hc.CpuQuota ?? 0;
  let period = hc.CpuPeriod ?? 0;
  if (hc.NanoCpus) {
    period = 100_000;
    quota = Math.round((hc.NanoCpus * period) / 1e9);
  }
  return {
    memory,
    memorySwap: memory > 0 ? swap : 0,
    memoryReservation: hc.MemoryReservation ?? 0,
    cpuShares: hc.CpuShares ?? 0,
    cpuQuota: quota,
    cpuPeriod: period,
    cpusetCpus: hc.CpusetCpus ?? '',
    cpusetMems: hc.CpusetMems ?? '',
    pidsLimit: hc.PidsLimit ?? 0,
    blkioWeight: hc.BlkioWeight ?? 0,
  };
}
