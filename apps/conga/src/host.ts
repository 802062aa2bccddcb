/**
 * Which daemon socket the CLI talks to. Owner: CLI (apps/conga).
 * Order: `-H/--host`, then $CONGA_HOST, then $DOCKER_HOST when it is unix://, then the default.
 */
import { E } from './errors';

/** The default Engine API socket (congad's `<run>/conga.sock` with the default --run). */
export const DEFAULT_HOST = 'unix:///run/conga/conga.sock';

/** A resolved daemon address: the URI as shown to users, and the socket path to dial. */
export interface DaemonHost {
  uri: string;
  socketPath: string;
}

/** Pick the daemon URI from the flag and the environment (see the file comment). */
export function chooseHost(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return flag;
  if (env.CONGA_HOST) return env.CONGA_HOST;
  if (env.DOCKER_HOST && env.DOCKER_HOST.startsWith('unix://')) return env.DOCKER_HOST;
  return DEFAULT_HOST;
}

/** Parse a daemon URI; only unix sockets are supported (a bare absolute path is taken as one). */
export function parseHost(uri: string): DaemonHost {
  if (uri.startsWith('/')) return { uri: `unix://${uri}`, socketPath: uri };
  if (uri.startsWith('unix://')) {
    const p = uri.slice('unix://'.length);
    if (!p.startsWith('/')) throw E.CliInvalidHost(uri, 'a unix socket path must be absolute, e.g. unix:///run/conga/conga.sock');
    return { uri, socketPath: p };
  }
  throw E.CliInvalidHost(uri, 'only unix:// sockets are supported, e.g. -H unix:///run/conga/conga.sock');
}
