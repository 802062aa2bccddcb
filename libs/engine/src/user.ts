import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { E } from '@conga/common';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

/**
 * Read a small text file of the container's rootfs (e.g. /etc/passwd) without following a
 * symlink out of it: the file and each of its parents must be plain, and it is only parsed,
 * never executed. Missing → undefined.
 */
async function readRootfsFile(rootfs: string, rel: string): Promise<string | undefined> {
  const parts = rel.split('/').filter(Boolean);
  let p = rootfs;
  for (const part of parts) {
    p = join(p, part);
    try {
      const st = await lstat(p);
      if (st.isSymbolicLink()) return undefined;
    } catch {
      return undefined;
    }
  }
  const text = await readFile(p, 'utf8').catch(() => undefined);
  return text && text.length < 4 << 20 ? text : undefined;
}

/**
 * Resolve docker's `-u user[:group]` against the image's /etc/passwd and /etc/group
 * (names or numbers). Empty → root.
 */
export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ResolvedUser> {
  const s = (spec ?? '').trim();
  if (!s) return { uid: 0, gid: 0, additionalGids: [] };
  const [userPart, groupPart] = s.split(':', 2);
  const passwd = (await readRootfsFile(rootfs, 'etc/passwd')) ?? '';
  const group = (await readRootfsFile(rootfs, 'etc/group')) ?? '';
  const pwEntries = passwd.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 4);
  const grEntries = group.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 3);
  let uid: number;
  let gid: number;
  let userName: string | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const pw = pwEntries.find((f) => Number(f[2]) === uid);
    gid = pw ? Number(pw[3]) : 0;
    userName = pw?.[0];
  } else {
    const pw = pwEntries.find((f) => f[0] === userPart);
    if (!pw) throw E.InvalidArgument(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = Number(pw[2]);
    gid = Number(pw[3]);
    userName = userPart;
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const gr = grEntries.find((f) => f[0] === groupPart);
      if (!gr) throw E.InvalidArgument(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = Number(gr[2]);
    }
  }
  const additionalGids = userName
    ? grEntries.filter((f) => (f[3] ?? '').split(',').includes(userName!)).map((f) => Number(f[2])).filter((g) => g !== gid)
    : [];
  return { uid, gid, additionalGids };
}
