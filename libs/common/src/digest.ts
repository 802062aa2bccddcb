import { E } from './errors';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** True for "sha256:<64 lowercase hex>". */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Validate a digest before it is used in a path; returns the hex part. */
export function digestHex(digest: string): string {
  if (!DIGEST_RE.test(digest)) throw E.InvalidDigest(digest);
  return digest.slice(7);
}
