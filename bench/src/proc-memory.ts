/**
 * Memory of a set of processes from /proc/PID/smaps_rollup (PSS shares pages fairly between
 * processes, so a sum of PSS is the real cost; RSS double counts shared pages).
 * Owner: benchmarks (bench/).
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Bytes of PSS and RSS. */
export interface Mem {
  pss: number;
  rss: number;
}

/** PSS and RSS of one process (zero when it is gone). */
export function processMem(pid: number): Mem {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { pss: kb('Pss'), rss: kb('Rss') };
  } catch {
    return { pss: 0, rss: 0 };
  }
}

/** A process: its pid, executable name (comm) and argv. */
export interface Proc {
  pid: number;
  comm: string;
  argv: string[];
}

/** Every process on the machine (those that vanish while listing are skipped). */
export function listProcs(): Proc[] {
  const out: Proc[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const argv = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const comm = readFileSync(`/proc/${n}/comm`, 'utf8').trim();
      out.push({ pid: Number(n), comm, argv });
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * Processes whose command line mentions one of `markers` (private directories of the engine
 * under test), minus short-lived runtime calls (runc). This finds daemons and per-container
 * monitors alike without touching anything else on the machine.
 */
export function procsMentioning(markers: string[]): Proc[] {
  return listProcs().filter((p) => p.pid !== process.pid && p.comm !== 'runc' && p.argv.some((a) => markers.some((m) => a.includes(m))));
}

/** Sum of memory grouped by a component name derived from each process. */
export function memByComponent(procs: Proc[], component: (p: Proc) => string): Map<string, Mem & { count: number }> {
  const out = new Map<string, Mem & { count: number }>();
  for (const p of procs) {
    const m = processMem(p.pid);
    const key = component(p);
    const cur = out.get(key) ?? { pss: 0, rss: 0, count: 0 };
    out.set(key, { pss: cur.pss + m.pss, rss: cur.rss + m.rss, count: cur.count + 1 });
  }
  return out;
}
