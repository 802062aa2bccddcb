import { E, type Logger } from '@conga/common';
import { runCommand } from './run-command';

/**
 * Refuse an OCI runtime that lacks the fixes for the container breakouts every engine has had
 * to guard against (owner: executor; written for issue 10):
 * - CVE-2019-5736: a container overwrites the host's runc binary through /proc/self/exe
 *   (fixed upstream in 1.0.0-rc7);
 * - CVE-2024-21626 ("Leaky Vessels"): a leaked host fd lets the process cwd escape to the host
 *   (fixed upstream in 1.1.12).
 * Distributions backport fixes without changing the upstream version, so the packaged revision
 * (runc prints it on its "commit:" line) is checked too. Runtimes other than runc are logged
 * and allowed.
 */

/** What `runc --version` said, parsed. */
export interface RuntimeVersion {
  /** "runc", or "" for anything else (crun, unknown). */
  name: string;
  /** Upstream version as printed, e.g. "1.1.5+ds1" or "1.0.0-rc92". */
  version: string;
  /** The "commit:" line, e.g. "1.1.5+ds1-1+deb12u1" on Debian or a git hash upstream. */
  commit: string;
}

/** The verdict on one runtime. */
export interface RuntimeVerdict {
  ok: boolean;
  /** Why it is refused (CVE ids and the missing fix), or why it is accepted. */
  reason: string;
}

/** Fixed-in versions, upstream. */
const FIXES: Array<{ cve: string; fixed: [number, number, number, number] }> = [
  { cve: 'CVE-2019-5736', fixed: [1, 0, 0, 7] }, // 1.0.0-rc7
  { cve: 'CVE-2024-21626', fixed: [1, 1, 12, Infinity] },
];

/**
 * Distribution packages that carry both backported fixes although their upstream version is
 * older: upstream version → a pattern of the packaged version and the least revision number.
 */
const BACKPORTS: Array<{ upstream: RegExp; packaged: RegExp; minRevision: number; name: string }> = [
  // Debian 12 (bookworm), DSA-5615-1: 1.1.5+ds1-1+deb12u1 fixes CVE-2024-21626 (CVE-2019-5736 long fixed).
  { upstream: /^1\.1\.5\+ds1$/, packaged: /^1\.1\.5\+ds1-1\+deb12u(\d+)$/, minRevision: 1, name: 'Debian 12 runc 1.1.5+ds1-1+deb12u1' },
];

/** Parse the output of `<runtime> --version`. */
export function parseRuntimeVersion(out: string): RuntimeVersion {
  const first = /^(\S+)\s+version\s+(\S+)/m.exec(out);
  const commit = /^commit:\s*(\S+)/m.exec(out);
  return { name: first?.[1] === 'runc' ? 'runc' : '', version: first?.[2] ?? '', commit: commit?.[1] ?? '' };
}

/** [major, minor, patch, rc] with rc = Infinity for a release; undefined when unparseable. */
function upstreamTuple(v: string): [number, number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-~]rc\.?(\d+))?/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3]), m[4] !== undefined ? Number(m[4]) : Infinity];
}

function less(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/** Decide whether a runc version carries the fixes (pure; see the module comment). */
export function judgeRuntime(v: RuntimeVersion): RuntimeVerdict {
  if (v.name !== 'runc') return { ok: true, reason: 'not runc: version not checked' };
  const t = upstreamTuple(v.version);
  if (!t) return { ok: false, reason: `cannot read the runc version "${v.version}", so the fixes for CVE-2019-5736 and CVE-2024-21626 cannot be confirmed` };
  const missing = FIXES.filter((f) => less(t, f.fixed)).map((f) => f.cve);
  if (missing.length === 0) return { ok: true, reason: `runc ${v.version} includes the fixes` };
  for (const b of BACKPORTS) {
    if (!b.upstream.test(v.version)) continue;
    const m = b.packaged.exec(v.commit);
    if (m && Number(m[1]) >= b.minRevision) return { ok: true, reason: `${v.commit} carries the backported fixes (${b.name})` };
  }
  const pkg = v.commit && v.commit !== v.version ? `, package ${v.commit}` : '';
  return { ok: false, reason: `runc ${v.version}${pkg} lacks the fix for ${missing.join(' and ')}` };
}

const cache = new Map<string, RuntimeVerdict & { version: string }>();

/**
 * Run `<binary> --version` and refuse a vulnerable runc with E.RuntimeVulnerable, unless
 * `allow` (or env CONGA_ALLOW_VULNERABLE_RUNTIME=1), in which case it only logs a warning.
 * Called once when the executor starts; results are cached per binary path.
 */
export async function checkRuntime(binary: string, opts: { log: Logger; allow?: boolean }): Promise<RuntimeVerdict> {
  let verdict = cache.get(binary);
  if (!verdict) {
    const r = await runCommand(binary, ['--version']);
    if (r.code !== 0) throw E.ServiceUnavailable('executor', `OCI runtime ${binary} --version failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    const v = parseRuntimeVersion(r.stdout);
    verdict = { ...judgeRuntime(v), version: v.commit && v.commit !== v.version ? `${v.version}, ${v.commit}` : v.version || 'unknown version' };
    cache.set(binary, verdict);
  }
  const allow = opts.allow ?? process.env.CONGA_ALLOW_VULNERABLE_RUNTIME === '1';
  if (verdict.ok) {
    opts.log.debug({ runtime: binary, reason: verdict.reason }, 'OCI runtime checked');
    return verdict;
  }
  if (allow) {
    opts.log.warn({ runtime: binary, reason: verdict.reason }, 'using a vulnerable OCI runtime because CONGA_ALLOW_VULNERABLE_RUNTIME=1');
    return verdict;
  }
  throw E.RuntimeVulnerable(binary, verdict.version, verdict.reason);
}
