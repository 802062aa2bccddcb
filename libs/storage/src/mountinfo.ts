import { readFileSync } from 'node:fs';
import { sep } from 'node:path';

/** Decode the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) of mountinfo. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Mount points of this process's mount namespace, from /proc/self/mountinfo, in mount order.
 * Internal to libs/storage; may change freely.
 */
export function mountPoints(): string[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    if (f.length > 4) out.push(unescapeMountField(f[4]));
  }
  return out;
}

/** True when `path` (absolute, symlink-free) is a mount point. */
export function isMountPoint(path: string): boolean {
  return mountPoints().includes(path);
}

/** Mount points at or below `path` (absolute, symlink-free), deepest first. */
export function mountsUnder(path: string): string[] {
  const prefix = path.endsWith(sep) ? path : path + sep;
  return mountPoints()
    .filter((m) => m === path || m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}
