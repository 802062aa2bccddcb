import { statSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';
import { E } from '@conga/common';

/** A host device node to create inside a container (docker's --device). Internal to the executor. */
export interface ResolvedDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  access: string;
}

/** Linux's dev_t split (glibc's gnu_dev_major/minor). */
export function devMajorMinor(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  const major = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
  const minor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * Resolve `--device host[:container][:rwm]` parts: the host path must be a character or block
 * device; the container path defaults to the host path; permissions are a subset of "rwm".
 */
export function resolveDevice(hostPath: string, containerPath: string, permissions: string): ResolvedDevice {
  if (!isAbsolute(hostPath)) throw E.InvalidArgument(`device "${hostPath}" must be an absolute host path such as /dev/fuse`);
  const access = permissions || 'rwm';
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) throw E.InvalidArgument(`invalid device permissions "${permissions}": use a combination of r, w and m`);
  let st;
  try {
    st = statSync(hostPath);
  } catch {
    throw E.InvalidArgument(`error gathering device information while adding custom device "${hostPath}": no such file or directory`);
  }
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw E.InvalidArgument(`"${hostPath}" is not a device node: give a character or block device`);
  const path = normalize(containerPath || hostPath);
  if (!isAbsolute(path) || path === '/') throw E.InvalidArgument(`device container path "${containerPath}" must be an absolute path`);
  return { path, type: st.isCharacterDevice() ? 'c' : 'b', ...devMajorMinor(st.rdev), fileMode: st.mode & 0o7777, access };
}
