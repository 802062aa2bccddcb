import { chmodSync, chownSync, readFileSync } from 'node:fs';
import type { Logger } from './logging';

/** Default group of Conga's API sockets (daemon.json "group"), like docker's "docker" group. */
export const DEFAULT_SOCKET_GROUP = 'conga';

/** The gid of a group named in /etc/group, or undefined when there is no such group. */
export function groupId(name: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/**
 * Give a freshly bound unix socket its final access (CVE-2020-15257: sockets are files with
 * modes, never abstract): mode 0660, owner the daemon's uid, group `group` when that group
 * exists. A missing group keeps the daemon's own group (root:root 0660) and is logged; the group
 * is never created. Returns the gid applied. Owner: issue 10 (reliability and security).
 */
export function secureSocket(path: string, group: string | undefined, log: Pick<Logger, 'info' | 'warn'>): number {
  chmodSync(path, 0o660);
  const uid = process.getuid?.() ?? 0;
  const fallback = process.getgid?.() ?? 0;
  const want = group ? groupId(group) : undefined;
  if (group && want === undefined) {
    log.info({ socket: path, group }, `group "${group}" does not exist: socket stays owned by uid ${uid} gid ${fallback}, mode 0660 (create the group, e.g. groupadd ${group}, to let its members in)`);
  }
  const gid = want ?? fallback;
  try {
    chownSync(path, uid, gid);
  } catch (e) {
    log.warn({ socket: path, group, err: e }, 'cannot set the socket group; it keeps the default group');
    return fallback;
  }
  return gid;
}
