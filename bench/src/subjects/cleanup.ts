/** Unmounting what a subject left under its private directory. Owner: benchmarks (bench/). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Lazily unmount every mount point at or below `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  const mps: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mp && (mp === dir || mp.startsWith(dir + '/'))) mps.push(mp);
  }
  for (const mp of mps.sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
}
