import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isCongaError, type CongaError } from '@conga/common';

/**
 * Shared settings of the property/fuzz suites in test/fuzz. CI runs a few hundred cases per
 * target; `FUZZ_RUNS=10000` gives the nightly size; `FUZZ_SEED` replays a failure that
 * fast-check reported (it prints the seed and path).
 */
export function fuzzRuns(ciDefault = 300): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : ciDefault;
}

/** fast-check parameters for one target: runs from FUZZ_RUNS, seed from FUZZ_SEED. */
export function fuzzParams<T>(ciDefault = 300): fc.Parameters<T> {
  const seed = Number(process.env.FUZZ_SEED);
  return { numRuns: fuzzRuns(ciDefault), ...(Number.isInteger(seed) ? { seed } : {}) };
}

/** Assert `e` is a Conga error with one of `codes` and a non-empty message (bad input, not a crash). */
export function assertCatalogError(e: unknown, codes: readonly string[], input: unknown): asserts e is CongaError {
  if (!isCongaError(e)) {
    assert.fail(`input ${JSON.stringify(input)?.slice(0, 300)} raised a non-catalog error: ${(e as Error)?.stack ?? String(e)}`);
  }
  assert.ok(codes.includes(e.code), `input ${JSON.stringify(input)?.slice(0, 300)} raised ${e.code} (${e.message}); expected one of ${codes.join(', ')}`);
  assert.ok(e.message.trim().length > 0, 'the error has a message');
}

/** Collect unhandled rejections / uncaught exceptions for the duration of a suite. */
export function trapUnhandled(): { errors: unknown[]; dispose(): void } {
  const errors: unknown[] = [];
  const onRej = (e: unknown) => errors.push(e);
  process.on('unhandledRejection', onRej);
  process.on('uncaughtException', onRej);
  return {
    errors,
    dispose() {
      process.off('unhandledRejection', onRej);
      process.off('uncaughtException', onRej);
    },
  };
}
