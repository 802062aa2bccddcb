/**
 * Just enough image-reference handling for the CLI: split repo/tag/digest, default the tag, and
 * spell the fully qualified name docker prints after a pull. The daemon validates references.
 * Owner: CLI (apps/conga). Pure.
 */

export interface ImageRef {
  /** Repository as given (no tag/digest), e.g. "busybox" or "127.0.0.1:5000/x/y". */
  repo: string;
  /** Tag ("latest" when neither tag nor digest was given; '' when a digest was). */
  tag: string;
  /** "sha256:..." or ''. */
  digest: string;
}

/** Split a reference like docker's client does before calling /images/create. */
export function parseRef(ref: string): ImageRef {
  let rest = ref;
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (!tag && !digest) tag = 'latest';
  return { repo: rest, tag, digest };
}

/** "repo:tag", "repo@digest" (or both) for messages like "Unable to find image 'busybox:latest' locally". */
export function familiar(r: ImageRef): string {
  return r.repo + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
}

/** Fully qualified: "busybox" → "docker.io/library/busybox:latest"; registries with a host stay as is. */
export function qualified(r: ImageRef): string {
  const first = r.repo.split('/')[0];
  const hasDomain = r.repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  let repo = r.repo;
  if (!hasDomain) repo = 'docker.io/' + (repo.includes('/') ? repo : `library/${repo}`);
  return familiar({ ...r, repo });
}
