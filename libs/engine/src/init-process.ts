import { accessSync, constants } from 'node:fs';
import { E } from '@conga/common';
import type { Mount } from '@conga/api';

/**
 * `--init` (HostConfig.Init): a tiny init as the container's pid 1 that forwards signals to the
 * command and reaps orphans, like docker's docker-init. Conga uses Debian's statically linked
 * tini (package tini), bind-mounted read-only, so nothing from the image is needed. Owner: engine.
 */

/** The host binary (static: it must run in any image, with or without a libc). */
export const INIT_BINARY = '/usr/bin/tini-static';
/** Where it appears in the container (docker's path, so scripts that look for it find it). */
export const INIT_PATH = '/sbin/docker-init';

/** Throw a clear error when the host lacks the init binary (checked at create and at start). */
export function checkInitBinary(binary = INIT_BINARY): void {
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw E.InvalidArgument(`--init needs ${binary} on the host, which is missing or not executable: install the tini package (apt-get install tini) or run without --init`);
  }
}

/** The read-only bind mount of the init binary. */
export function initMount(binary = INIT_BINARY): Mount {
  return { destination: INIT_PATH, type: 'bind', source: binary, options: ['rbind', 'rprivate', 'ro'] };
}

/** The container's argv with the init in front: `docker-init -- cmd args...`. */
export function withInit(argv: string[]): string[] {
  return [INIT_PATH, '--', ...argv];
}
