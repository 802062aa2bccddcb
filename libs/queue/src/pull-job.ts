import { CongaError, toCongaError, type ErrorKind, type Progress } from '@conga/common';

/** Name of the bullmq queue image pulls go through (one per Redis database). */
export const PULL_QUEUE = 'conga-pulls';

/** What a pull job carries. Never credentials: pulls with explicit auth bypass the queue. */
export interface PullJobData {
  /** Normalized reference, e.g. docker.io/library/busybox:latest. */
  reference: string;
  /** os/arch[/variant] */
  platform: { os: string; architecture: string; variant: string };
  /** Request id of the first caller (for log correlation). */
  requestId: string;
}

/** What a completed pull job returns: the image id. */
export interface PullJobResult {
  id: string;
}

/** A progress message relayed through the queue: one docker-style progress event. */
export type PullJobProgress = Progress;

/**
 * The job id for a pull: identical pulls (same normalized reference and platform) map to one
 * job, so bullmq runs them once. bullmq refuses ":" in custom ids, hence the escaping.
 */
export function pullJobId(reference: string, platform: string): string {
  return `pull|${reference}|${platform}`.replace(/%/g, '%25').replace(/:/g, '%3A');
}

/** Kinds a retry cannot fix (the worker fails the job at once instead of backing off). */
const PERMANENT: ReadonlySet<ErrorKind> = new Set(['InvalidArgument', 'NotFound', 'PermissionDenied', 'FailedPrecondition', 'Unimplemented', 'AlreadyExists']);

/** True when retrying a pull that failed with `e` cannot help. */
export function isPermanent(e: CongaError): boolean {
  return PERMANENT.has(e.kind);
}

const MARK = 'conga-error:';

/** A failure as the job's failedReason, keeping the catalog code and kind across Redis. */
export function encodeFailure(e: unknown): string {
  const err = toCongaError(e);
  return MARK + JSON.stringify({ code: err.code, kind: err.kind, message: err.message });
}

/** A job's failedReason back into the CongaError it was (unknown text: an Internal error). */
export function decodeFailure(reason: string | undefined): CongaError {
  if (reason?.startsWith(MARK)) {
    try {
      const o = JSON.parse(reason.slice(MARK.length)) as { code: string; kind: ErrorKind; message: string };
      return new CongaError(o.code, o.kind, o.message);
    } catch {
      /* fall through */
    }
  }
  return new CongaError('CONGA_ERR_INTERNAL', 'Internal', `image pull failed in the queue: ${reason ?? 'no reason given'}`);
}
