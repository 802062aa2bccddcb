import { E } from '@conga/common';

/**
 * Image references in docker's grammar (distribution/reference), normalised the way docker does:
 * `busybox` → `docker.io/library/busybox:latest`. Pure functions; owned by the image service.
 * The shape of {@link ImageReference} is stable; helpers may be added.
 */
export interface ImageReference {
  /** Registry host[:port], e.g. "docker.io", "127.0.0.1:5000". */
  readonly domain: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  readonly path: string;
  /** Tag; "latest" when neither tag nor digest was given; undefined for a digest-only reference. */
  readonly tag?: string;
  /** "sha256:<hex>" when the reference pins a digest. */
  readonly digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DOMAIN = 'index.docker.io';
const MAX_NAME = 255;

const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const HEX64 = /^[a-f0-9]{64}$/;

function validDomain(d: string): string | undefined {
  let host = d;
  const colon = d.lastIndexOf(':');
  if (colon > d.lastIndexOf(']')) {
    const port = d.slice(colon + 1);
    if (!PORT.test(port)) return `port "${port}" of registry "${d}" is not a number`;
    host = d.slice(0, colon);
  }
  if (IPV6.test(host)) return undefined;
  if (host.split('.').every((c) => DOMAIN_COMPONENT.test(c))) return undefined;
  return `registry host "${d}" is not a valid host name`;
}

/** Split a name into registry domain and path, as docker does (first component is a domain if it has "." or ":", or is "localhost", or has upper case). */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  let domain: string;
  let path: string;
  if (i === -1) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    const first = name.slice(0, i);
    if (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first) {
      domain = DEFAULT_DOMAIN;
      path = name;
    } else {
      domain = first;
      path = name.slice(i + 1);
    }
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  return { domain, path };
}

/**
 * Parse and normalise a reference (`name[:tag][@digest]`). Throws E.InvalidReference saying what
 * is wrong. Without tag and digest the tag is "latest".
 */
export function parseReference(input: string): ImageReference {
  const bad = (why: string) => E.InvalidReference(input, why);
  if (typeof input !== 'string' || input === '') throw bad('the reference is empty');
  if (input !== input.trim() || /\s/.test(input)) throw bad('it contains white space');
  if (HEX64.test(input)) throw bad('a repository name cannot be a 64-character hexadecimal string (use the image ID or sha256:<hex>)');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`"${digest}" is not a digest (expected sha256:<64 hex digits>)`);
    if (!digest.startsWith('sha256:')) throw bad(`digest algorithm "${digest.split(':')[0]}" is not supported: only sha256`);
    if (!SHA256.test(digest)) throw bad(`"${digest}" is not a sha256 digest (expected 64 lowercase hex digits)`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') throw bad('the tag after ":" is empty');
    if (tag.length > 128) throw bad(`the tag is ${tag.length} characters long; at most 128 are allowed`);
    if (!TAG.test(tag)) throw bad(`tag "${tag}" may only contain letters, digits, "_", "." and "-" and must not start with "." or "-"`);
  }
  if (rest === '') throw bad('the repository name is empty');
  if (rest.length > MAX_NAME) throw bad(`the repository name is longer than ${MAX_NAME} characters`);
  const { domain, path } = splitDomain(rest);
  if (domain !== DEFAULT_DOMAIN || rest.startsWith(`${domain}/`)) {
    const why = validDomain(domain);
    if (why) throw bad(why);
  }
  if (path === '') throw bad('the repository path after the registry is empty');
  for (const c of path.split('/')) {
    if (c === '') throw bad('the repository name has an empty path component ("//" or a trailing "/")');
    if (c.toLowerCase() !== c && PATH_COMPONENT.test(c.toLowerCase())) throw bad('repository name must be lowercase');
    if (!PATH_COMPONENT.test(c)) {
      throw bad(`path component "${c}" may only contain lowercase letters, digits and the separators ".", "_", "__" or "-" between them`);
    }
  }
  if (`${domain}/${path}`.length > MAX_NAME) throw bad(`the repository name is longer than ${MAX_NAME} characters`);
  if (!tag && !digest) tag = DEFAULT_TAG;
  return digest ? (tag ? { domain, path, tag, digest } : { domain, path, digest }) : { domain, path, tag };
}

/** "domain/path", e.g. "docker.io/library/busybox". */
export function fullName(r: Pick<ImageReference, 'domain' | 'path'>): string {
  return `${r.domain}/${r.path}`;
}

/** The name as docker shows it: "docker.io/library/" and "docker.io/" dropped. */
export function familiarName(r: Pick<ImageReference, 'domain' | 'path'>): string {
  if (r.domain !== DEFAULT_DOMAIN) return fullName(r);
  const p = r.path;
  if (p.startsWith('library/') && p.indexOf('/', 8) === -1) return p.slice(8);
  return p;
}

function suffix(r: ImageReference): string {
  return `${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Fully normalised string: "docker.io/library/busybox:latest". */
export function normalizedString(r: ImageReference): string {
  return fullName(r) + suffix(r);
}

/** Familiar string (used for repo_tags): "busybox:latest", "127.0.0.1:5000/x:1". */
export function familiarString(r: ImageReference): string {
  return familiarName(r) + suffix(r);
}

/** Normalise a reference string: parse then {@link normalizedString}. */
export function normalizeReference(input: string): string {
  return normalizedString(parseReference(input));
}

/** True when `s` is "sha256:<64 hex>" or 64 hex digits (an image ID, not a name). */
export function isFullImageId(s: string): boolean {
  return SHA256.test(s) || HEX64.test(s);
}
