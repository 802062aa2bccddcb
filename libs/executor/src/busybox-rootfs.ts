import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Commands linked to busybox in {@link makeBusyboxRootfs}. */
export const BUSYBOX_APPLETS = ['sh', 'echo', 'sleep', 'cat', 'true', 'false', 'ls', 'id', 'hostname', 'kill', 'ps'];

/**
 * Build a minimal root filesystem from the host's static busybox (/bin/busybox, from Debian's
 * busybox-static) for tests: /bin/busybox plus applet links, and empty /proc /dev /sys /tmp /etc.
 * Test helper owned by the executor; other libs' tests may use it.
 */
export function makeBusyboxRootfs(dir: string, busybox = '/bin/busybox'): string {
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(busybox, join(dir, 'bin', 'busybox'));
  for (const a of BUSYBOX_APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  return dir;
}
