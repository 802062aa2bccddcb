/**
 * How CLI failures become exit codes. Owner: CLI (apps/conga). Messages come from the shared
 * catalog (`E` in @conga/common); this file only decides exit status, following docker:
 * flag errors exit 125, everything else 1, and `run` picks 125/126/127 itself via {@link ExitStatus}.
 */
import { CongaError } from '@conga/common/src/errors/conga-error';
import * as E from '@conga/common/src/errors/catalog';

export { E, CongaError };

/** Codes of flag errors, which exit 125 like docker's FlagErrorFunc. May grow with new flag errors. */
const FLAG_ERRORS = new Set<string>([
  E.CliUnknownFlag.code,
  E.CliUnknownShorthand.code,
  E.CliFlagNeedsArgument.code,
  E.CliInvalidFlagValue.code,
]);

/**
 * Ends a command with a given exit status; `error` (if any) is printed to stderr first,
 * with `prefix` before it (docker prints "docker: " before `run` failures).
 */
export class ExitStatus extends Error {
  override readonly name = 'ExitStatus';
  constructor(
    readonly status: number,
    readonly error?: CongaError,
    readonly prefix = '',
  ) {
    super(error ? error.message : `exit status ${status}`);
  }
}

/** The exit status for something a command threw (see the file comment). */
export function exitCodeFor(e: unknown): number {
  if (e instanceof ExitStatus) return e.status;
  if (e instanceof CongaError && FLAG_ERRORS.has(e.code)) return 125;
  return 1;
}

/** The text to print on stderr for something a command threw, or '' for nothing. */
export function messageFor(e: unknown): string {
  if (e instanceof ExitStatus) return e.error ? e.prefix + e.error.message : '';
  if (e instanceof CongaError) return FLAG_ERRORS.has(e.code) ? `conga: ${e.message}` : e.message;
  const err = e as Error;
  return err && typeof err.message === 'string' ? err.message : String(e);
}
