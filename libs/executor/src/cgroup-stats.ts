import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskStats } from '@conga/api';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** True on a pure cgroup v2 host (the unified hierarchy mounted at /sys/fs/cgroup). */
export function isCgroupV2(): boolean {
  try {
    return readdirSync(CGROUP_ROOT).includes('cgroup.controllers');
  } catch {
    return false;
  }
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function num(file: string): number {
  const t = read(file)?.trim();
  if (!t || t === 'max') return 0;
  const n = Number(t);
  return Number.isFinite(n) ? n : 0;
}

function keyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** The directory of `controller` for a cgroupfs-style path (v1: per hierarchy; v2: unified). */
export function controllerDir(cgroupsPath: string, controller: string): string {
  const rel = cgroupsPath.replace(/^\/+/, '');
  return isCgroupV2() ? join(CGROUP_ROOT, rel) : join(CGROUP_ROOT, controller, rel);
}

/** Pids in the cgroup (and its children), host pid namespace. */
export function cgroupPids(cgroupsPath: string): number[] {
  const dir = controllerDir(cgroupsPath, 'pids');
  const pids = new Set<number>();
  const walk = (d: string): void => {
    for (const l of (read(join(d, 'cgroup.procs')) ?? '').split('\n')) if (/^\d+$/.test(l.trim())) pids.add(Number(l));
    let entries: import('node:fs').Dirent[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(dir);
  return [...pids].sort((a, b) => a - b);
}

/** Host CPU time in ns (the "cpu" line of /proc/stat) and the number of online CPUs. */
function systemCpu(): { ns: number; cpus: number } {
  const stat = read('/proc/stat') ?? '';
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  const ticks = (line ?? '').trim().split(/\s+/).slice(1, 8).reduce((a, b) => a + Number(b || 0), 0);
  const cpus = stat.split('\n').filter((l) => /^cpu\d+ /.test(l)).length || 1;
  return { ns: Math.round(ticks * (1e9 / 100)), cpus };
}

/** Interface counters from a /proc/<pid>/net/dev (the container's netns), without lo. */
function networkStats(pid: number): TaskStats['networks'] {
  if (!pid) return [];
  const text = read(`/proc/${pid}/net/dev`) ?? '';
  const out: TaskStats['networks'] = [];
  for (const line of text.split('\n').slice(2)) {
    const m = line.match(/^\s*([^:]+):\s*(.*)$/);
    if (!m || m[1] === 'lo') continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out.push({ interface: m[1], rxBytes: f[0], rxPackets: f[1], rxErrors: f[2], rxDropped: f[3], txBytes: f[8], txPackets: f[9], txErrors: f[10], txDropped: f[11] });
  }
  return out;
}

/**
 * One sample of a task's counters from its cgroup (v1 hybrid or v2) and its netns. Fields a
 * host does not provide are 0. Internal to the executor.
 */
export function readTaskStats(cgroupsPath: string, pid: number): TaskStats {
  const sys = systemCpu();
  const base = { read: new Date().toISOString(), systemCpuNs: sys.ns, onlineCpus: sys.cpus, networks: networkStats(pid) };
  if (isCgroupV2()) {
    const d = controllerDir(cgroupsPath, '');
    const cpu = keyed(read(join(d, 'cpu.stat')));
    const mstat = keyed(read(join(d, 'memory.stat')));
    let rb = 0;
    let wb = 0;
    for (const l of (read(join(d, 'io.stat')) ?? '').split('\n')) {
      rb += Number(l.match(/rbytes=(\d+)/)?.[1] ?? 0);
      wb += Number(l.match(/wbytes=(\d+)/)?.[1] ?? 0);
    }
    return {
      ...base,
      cgroupVersion: 'v2',
      cpuTotalNs: (cpu.usage_usec ?? 0) * 1000,
      cpuUserNs: (cpu.user_usec ?? 0) * 1000,
      cpuSystemNs: (cpu.system_usec ?? 0) * 1000,
      percpuNs: [],
      memoryUsage: num(join(d, 'memory.current')),
      memoryLimit: num(join(d, 'memory.max')),
      memoryMaxUsage: num(join(d, 'memory.peak')),
      memoryStat: mstat,
      pidsCurrent: num(join(d, 'pids.current')),
      pidsLimit: num(join(d, 'pids.max')),
      blkioReadBytes: rb,
      blkioWriteBytes: wb,
    };
  }
  const acct = controllerDir(cgroupsPath, 'cpuacct');
  const cpuStat = keyed(read(join(acct, 'cpuacct.stat')));
  const tick = 1e9 / 100;
  const mem = controllerDir(cgroupsPath, 'memory');
  const pids = controllerDir(cgroupsPath, 'pids');
  const blk = controllerDir(cgroupsPath, 'blkio');
  let rb = 0;
  let wb = 0;
  for (const l of (read(join(blk, 'blkio.throttle.io_service_bytes')) ?? '').split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[1] === 'Read') rb += Number(f[2]);
    if (f[1] === 'Write') wb += Number(f[2]);
  }
  const limit = num(join(mem, 'memory.limit_in_bytes'));
  return {
    ...base,
    cgroupVersion: 'v1',
    cpuTotalNs: num(join(acct, 'cpuacct.usage')),
    cpuUserNs: (cpuStat.user ?? 0) * tick,
    cpuSystemNs: (cpuStat.system ?? 0) * tick,
    percpuNs: (read(join(acct, 'cpuacct.usage_percpu')) ?? '').trim().split(/\s+/).filter(Boolean).map(Number),
    memoryUsage: num(join(mem, 'memory.usage_in_bytes')),
    // v1 reports "no limit" as a huge page-aligned number.
    memoryLimit: limit >= 2 ** 62 ? 0 : limit,
    memoryMaxUsage: num(join(mem, 'memory.max_usage_in_bytes')),
    memoryStat: keyed(read(join(mem, 'memory.stat'))),
    pidsCurrent: num(join(pids, 'pids.current')),
    pidsLimit: num(join(pids, 'pids.max')),
    blkioReadBytes: rb,
    blkioWriteBytes: wb,
  };
}
