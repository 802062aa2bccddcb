import { E } from '@conga/common';
import { isMountPoint, mountsUnder } from './mountinfo';
import { runCommand } from './run-command';

/** The kernel copies mount options into one page; stay below it. */
const MAX_MOUNT_DATA = 4000;

/**
 * Mount an overlay at `<cwd>/<mergedRel>`. Every path is relative to `cwd` (the storage dir) so
 * that 100+ short layer links fit in the kernel's one-page option limit. `lowers` is top first.
 * Internal to libs/storage (owner: storage).
 */
export async function mountOverlay(cwd: string, lowers: string[], upperRel: string, workRel: string, mergedRel: string): Promise<void> {
  const data = `lowerdir=${lowers.join(':')},upperdir=${upperRel},workdir=${workRel}`;
  if (data.length > MAX_MOUNT_DATA) {
    throw E.MountFailed(mergedRel, `${lowers.length} layers do not fit in the overlay mount options (${data.length} bytes, limit ${MAX_MOUNT_DATA}); flatten the image`);
  }
  try {
    await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', data, mergedRel], { cwd });
  } catch (e) {
    throw E.MountFailed(mergedRel, (e as { stderr?: string }).stderr ?? String(e));
  }
}

/**
 * Unmount `target` (absolute, symlink-free) if it is mounted; a busy mount is detached lazily.
 * Idempotent. Throws E.MountFailed if it is still mounted afterwards.
 */
export async function unmount(target: string): Promise<void> {
  // A path can be mounted more than once (stacked mounts): peel them all.
  for (let i = 0; i < 16 && isMountPoint(target); i++) {
    try {
      await runCommand('umount', [target]);
    } catch (first) {
      if (!isMountPoint(target)) break;
      try {
        await runCommand('umount', ['-l', target]);
      } catch (e) {
        throw E.MountFailed(target, `cannot unmount: ${(e as { stderr?: string }).stderr ?? (first as Error).message}`);
      }
    }
  }
  if (isMountPoint(target)) throw E.MountFailed(target, 'still mounted after umount');
}

/** Unmount everything at or below `path`, deepest first. */
export async function unmountAllUnder(path: string): Promise<void> {
  for (const m of mountsUnder(path)) await unmount(m);
}
