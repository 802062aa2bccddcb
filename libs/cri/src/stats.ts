import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskStats } from '@conga/api';

/**
 * CRI stats from the executor's cgroup samples (TaskStats): cpu usage in core-nanoseconds,
 * memory working set (usage minus inactive file pages, as kubelet/cadvisor define it), and the
 * writable layer's usage (the overlay upper directory). Pure except {@link dirUsage}.
 * Owner: libs/cri (containers).
 */

const u64 = (value: number) => ({ value: Math.max(0, Math.round(value)) });

/** Nanoseconds since the epoch of an RFC 3339 time (CRI's timestamp unit); 0 for none. */
export function toNs(iso: string | undefined): number {
  const ms = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(ms) && ms > 0 ? ms * 1e6 : 0;
}

/** Working set: usage minus inactive file cache (cgroup v1: total_inactive_file; v2: inactive_file). */
export function workingSet(s: TaskStats): number {
  const stat = s.memoryStat ?? {};
  const inactive = Number(stat.total_inactive_file ?? stat.inactive_file ?? 0);
  return Math.max(0, Number(s.memoryUsage ?? 0) - inactive);
}

export function cpuUsage(s: TaskStats | undefined, now: number) {
  return { timestamp: now, usageCoreNanoSeconds: u64(Number(s?.cpuTotalNs ?? 0)) };
}

/** CRI MemoryUsage (UInt64Value fields). */
export interface MemoryUsage {
  timestamp: number;
  workingSetBytes: { value: number };
  usageBytes: { value: number };
  rssBytes?: { value: number };
  pageFaults?: { value: number };
  majorPageFaults?: { value: number };
  availableBytes?: { value: number };
}

export function memoryUsage(s: TaskStats | undefined, now: number): MemoryUsage {
  if (!s) return { timestamp: now, workingSetBytes: u64(0), usageBytes: u64(0) };
  const stat = s.memoryStat ?? {};
  const limit = Number(s.memoryLimit ?? 0);
  const ws = workingSet(s);
  return {
    timestamp: now,
    workingSetBytes: u64(ws),
    usageBytes: u64(Number(s.memoryUsage ?? 0)),
    rssBytes: u64(Number(stat.total_rss ?? stat.rss ?? stat.anon ?? 0)),
    pageFaults: u64(Number(stat.total_pgfault ?? stat.pgfault ?? 0)),
    majorPageFaults: u64(Number(stat.total_pgmajfault ?? stat.pgmajfault ?? 0)),
    // A limit near 2^63 means "none": no available_bytes then.
    ...(limit > 0 && limit < 2 ** 62 ? { availableBytes: u64(limit - ws) } : {}),
  };
}

/** The CRI NetworkUsage of a sample's interfaces (eth0 is the default one). */
export function networkUsage(s: TaskStats | undefined, now: number) {
  const ifs = (s?.networks ?? []).map((n) => ({ name: n.interface, rxBytes: u64(Number(n.rxBytes)), rxErrors: u64(Number(n.rxErrors)), txBytes: u64(Number(n.txBytes)), txErrors: u64(Number(n.txErrors)) }));
  return { timestamp: now, defaultInterface: ifs.find((i) => i.name === 'eth0') ?? ifs[0] ?? null, interfaces: ifs };
}

/** Bytes and inodes used under `dir` (not following symlinks); zeros when it is gone. */
export async function dirUsage(dir: string): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      inodes++;
      bytes += st.blocks * 512;
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return { bytes, inodes };
}
