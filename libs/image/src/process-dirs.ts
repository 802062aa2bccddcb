import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** True while process `pid` exists on this host (EPERM: it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Several image-service processes share one state dir (split mode): each keeps its scratch files
 * under `<root>/<pid>/`. Remove the entries of `root` that belong to no live process, and this
 * process's own leftovers (a dead process may have had our pid). Live processes' dirs are kept.
 */
export function sweepDeadPidDirs(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = /^\d+$/.test(n) ? Number(n) : 0;
    if (pid !== process.pid && pidAlive(pid)) continue;
    rmSync(join(root, n), { recursive: true, force: true });
  }
}
