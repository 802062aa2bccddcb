import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E } from '@conga/common';
import { DEFAULT_DOMAIN } from './reference';

/** Credentials for one registry host. */
export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token (sent to the token service instead of the password). */
  identityToken?: string;
  /** A bearer token used as is. */
  registryToken?: string;
}

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * The key credentials are stored under: "host[:port]" of a server address given as a host, a
 * URL ("https://host:5000/v1/") or empty (docker.io). Docker Hub's aliases all map to "docker.io".
 */
export function registryKey(serverAddress: string): string {
  let s = (serverAddress ?? '').trim();
  if (s === '') return DEFAULT_DOMAIN;
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  s = s.split('/')[0].toLowerCase();
  if (s === '' || /[\s@]/.test(s)) throw E.InvalidArgument(`"${serverAddress}" is not a registry address (expected host[:port] or a URL)`);
  const host = s.replace(/:443$/, '');
  return DOCKER_HUB_ALIASES.has(host) ? DEFAULT_DOMAIN : host;
}

interface FileShape {
  auths: Record<string, { auth?: string; identitytoken?: string }>;
}

/**
 * Registry credentials kept in one file (`<root>/image/auths.json`, mode 0600, docker's
 * config.json "auths" shape). Each entry belongs to one host: the registry client only sends it to
 * that host (and to the token service that host names). Owned by the image service; internal.
 */
export class AuthStore {
  private readonly file: string;

  constructor(dir: string) {
    this.file = join(dir, 'auths.json');
    if (existsSync(this.file)) chmodSync(this.file, 0o600);
  }

  private read(): FileShape {
    if (!existsSync(this.file)) return { auths: {} };
    try {
      const j = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<FileShape>;
      return { auths: j.auths && typeof j.auths === 'object' ? j.auths : {} };
    } catch {
      return { auths: {} };
    }
  }

  private write(f: FileShape): void {
    if (Object.keys(f.auths).length === 0) {
      rmSync(this.file, { force: true });
      return;
    }
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(f, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Stored credentials of the registry `domain` (a reference's domain), if any. */
  get(domain: string): Credentials | undefined {
    const e = this.read().auths[registryKey(domain)];
    if (!e) return undefined;
    const raw = e.auth ? Buffer.from(e.auth, 'base64').toString('utf8') : '';
    const i = raw.indexOf(':');
    const creds: Credentials = { username: i === -1 ? raw : raw.slice(0, i), password: i === -1 ? '' : raw.slice(i + 1) };
    if (e.identitytoken) creds.identityToken = e.identitytoken;
    return creds.username || creds.identityToken ? creds : undefined;
  }

  set(serverAddress: string, c: Credentials): void {
    const f = this.read();
    f.auths[registryKey(serverAddress)] = {
      auth: Buffer.from(`${c.username}:${c.password}`).toString('base64'),
      ...(c.identityToken ? { identitytoken: c.identityToken } : {}),
    };
    this.write(f);
  }

  /** Forget a registry's credentials; false when none were stored. */
  remove(serverAddress: string): boolean {
    const f = this.read();
    const k = registryKey(serverAddress);
    if (!(k in f.auths)) return false;
    delete f.auths[k];
    this.write(f);
    return true;
  }
}
