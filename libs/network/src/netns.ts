import { constants } from 'node:fs';
import { mkdir, open, readFile, realpath, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { E } from '@conga/common';
import { runCommand } from './util/run-command';

/** statfs magic of nsfs, the filesystem of /proc/<pid>/ns/* (and of their bind mounts). */
const NSFS_MAGIC = 0x6e736673;
const CMD_TIMEOUT_MS = 30_000;

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points of this process's mount namespace (from /proc/self/mountinfo). */
export async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return new Set(text.split('\n').filter(Boolean).map((l) => unescapeMountinfo(l.split(' ')[4])));
}

/** True when `path` is a pinned namespace (an nsfs bind mount). */
export async function isNsfs(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Pinned network namespaces, one file per container: `<runDir>/netns/<id>`, an nsfs bind mount
 * made with util-linux `unshare --net=<file>`. The netns dir is bind-mounted onto itself with
 * shared propagation (what `ip netns add` does for /run/netns) so that unmounting a netns also
 * reaches copies of the mount in mount namespaces cloned later (containers). Files survive a
 * restart of the service; only {@link remove} ends a netns. Owned by the network service.
 */
export class NetnsPinner {
  readonly dir: string;
  private ready?: Promise<void>;

  constructor(runDir: string) {
    this.dir = join(runDir, 'netns');
  }

  /** The netns file of a container (whether or not it exists). */
  path(id: string): string {
    return join(this.dir, id);
  }

  /** Create the netns dir and make it a shared mount point of itself (once, idempotent). */
  init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o755 });
      const dir = await realpath(this.dir);
      if (!(await mountPoints()).has(dir)) await this.mount(['--bind', dir, dir]);
      await this.mount(['--make-shared', dir]);
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  private async mount(args: string[]): Promise<void> {
    const r = await runCommand('mount', args, { timeoutMs: CMD_TIMEOUT_MS });
    if (r.code !== 0) throw E.NetnsFailed(`mount ${args.join(' ')} failed: ${r.stderr.trim() || `exit status ${r.code}`}`);
  }

  /** Create and pin a new netns for `id`; fails if one is already pinned there. */
  async create(id: string): Promise<string> {
    await this.init();
    const file = this.path(id);
    try {
      const fh = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_RDONLY, 0o444);
      await fh.close();
    } catch (e) {
      throw E.NetnsFailed(`cannot create ${file}: ${(e as Error).message}`);
    }
    try {
      const r = await runCommand('unshare', [`--net=${file}`, 'true'], { timeoutMs: CMD_TIMEOUT_MS });
      if (r.code !== 0) throw E.NetnsFailed(`unshare --net=${file} failed: ${r.stderr.trim() || `exit status ${r.code}`}`);
      if (!(await isNsfs(file))) throw E.NetnsFailed(`${file} is not an nsfs mount after unshare; is /proc mounted?`);
      return file;
    } catch (e) {
      await this.remove(id).catch(() => undefined);
      throw e;
    }
  }

  /** Whether a pinned netns exists for `id`. */
  exists(id: string): Promise<boolean> {
    return isNsfs(this.path(id));
  }

  /** Unmount and unlink the netns file; idempotent. */
  async remove(id: string): Promise<void> {
    const file = this.path(id);
    // A file may carry several stacked mounts after a crash: unmount until it is plain.
    for (let i = 0; i < 8 && (await isNsfs(file)); i++) {
      const r = await runCommand('umount', ['--lazy', file], { timeoutMs: CMD_TIMEOUT_MS });
      if (r.code !== 0) throw E.NetnsFailed(`umount ${file} failed: ${r.stderr.trim() || `exit status ${r.code}`}`);
    }
    await rm(file, { force: true });
  }

  /**
   * Undo {@link init}: unmount the netns dir's self bind mount (only when no netns is pinned in
   * it). For tests and uninstall; the daemon never calls it.
   */
  async release(): Promise<void> {
    let dir: string;
    try {
      dir = await realpath(this.dir);
    } catch {
      return;
    }
    if ((await mountPoints()).has(dir)) {
      const r = await runCommand('umount', [dir], { timeoutMs: CMD_TIMEOUT_MS });
      if (r.code !== 0) throw E.NetnsFailed(`umount ${dir} failed: ${r.stderr.trim()}`);
    }
    this.ready = undefined;
  }
}
