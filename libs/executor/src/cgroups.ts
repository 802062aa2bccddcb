import { lstatSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * Directories a cgroupfs-style `cgroupsPath` maps to on this host: one per v1 hierarchy
 * (and the unified one), or one on a pure v2 host. Internal to the executor.
 */
export function cgroupDirs(cgroupsPath: string): string[] {
  const rel = cgroupsPath.replace(/^\/+/, '');
  if (!rel) return [];
  let entries: string[] = [];
  try {
    entries = readdirSync(CGROUP_ROOT);
  } catch {
    return [];
  }
  if (entries.includes('cgroup.controllers')) return [join(CGROUP_ROOT, rel)];
  const dirs: string[] = [];
  for (const e of entries) {
    const hier = join(CGROUP_ROOT, e);
    try {
      if (lstatSync(hier).isDirectory()) dirs.push(join(hier, rel));
    } catch {
      /* not a hierarchy */
    }
  }
  return dirs;
}

/** Existing cgroup directories of `cgroupsPath` (what a leak check looks at). */
export function existingCgroupDirs(cgroupsPath: string): string[] {
  return cgroupDirs(cgroupsPath).filter((d) => {
    try {
      return statSync(d).isDirectory();
    } catch {
      return false;
    }
  });
}

/**
 * Remove empty leftover cgroup directories, children first: a system container's systemd makes
 * its own cgroups below the container's (best effort; a populated cgroup stays).
 */
export function removeCgroupDirs(cgroupsPath: string): void {
  for (const d of existingCgroupDirs(cgroupsPath)) removeTree(d);
}

function removeTree(dir: string): void {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
    rmdirSync(dir);
  } catch {
    /* busy or already gone */
  }
}

/**
 * OOM kills counted in the cgroup (v1 memory.oom_control, v2 memory.events `oom_kill`): the
 * kernel's own record, still readable after the processes are gone (until the cgroup is removed).
 */
export function cgroupOomKills(cgroupsPath: string): number {
  for (const d of existingCgroupDirs(cgroupsPath)) {
    for (const f of ['memory.oom_control', 'memory.events']) {
      try {
        const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(d, f), 'utf8'));
        if (m) return Number(m[1]);
      } catch {
        /* not the memory hierarchy */
      }
    }
  }
  return 0;
}
