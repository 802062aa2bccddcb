import { readFileSync } from 'node:fs';

/**
 * Small /proc readers used to recognise a process across restarts (pid + start time, as
 * CRI-O/podman do for conmon). Internal to the executor.
 */

/** Start time (clock ticks since boot, field 22 of /proc/<pid>/stat), or undefined if gone. */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  if (state === 'Z' || state === 'X') return undefined; // a zombie is as good as gone
  return rest[19];
}

/** True when `pid` runs and (if given) started at `startTime`: i.e. it was not reused. */
export function isSameProcess(pid: number, startTime: string | undefined): boolean {
  const now = processStartTime(pid);
  if (now === undefined) return false;
  return startTime === undefined || startTime === '' || now === startTime;
}

/** Hard RLIMIT_NOFILE of this process, or undefined when unreadable/unlimited. */
export function ownNofileHardLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    const n = Number(hard);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** True when this process holds CAP_SYS_RESOURCE (may raise hard rlimits). */
export function hasCapSysResource(): boolean {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
    const eff = BigInt(`0x${line!.split(/\s+/)[1]}`);
    return ((eff >> 24n) & 1n) === 1n;
  } catch {
    return false;
  }
}
