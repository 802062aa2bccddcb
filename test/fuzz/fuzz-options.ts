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

/**
 * The seed CI uses: the same cases on every run, so a green suite stays green and a failure
 * is a change in the code, not luck. New cases come from the nightly-size runs.
 */
export const CI_FUZZ_SEED = 20261122;

/**
 * fast-check parameters for one target: runs from FUZZ_RUNS, seed from FUZZ_SEED. Without
 * FUZZ_SEED the seed is CI_FUZZ_SEED for the CI size and random for a larger FUZZ_RUNS (the
 * nightly run explores); `FUZZ_SEED=random` explores at any size. fast-check prints the
 * seed and path of a failure so it can be replayed.
 */
export function fuzzParams<T>(ciDefault = 300): fc.Parameters<T> {
  const raw = process.env.FUZZ_SEED;
  const seed = Number(raw);
  const explore = raw === 'random' || (raw === undefined && process.env.FUZZ_RUNS !== undefined);
  return { numRuns: fuzzRuns(ciDefault), ...(Number.isInteger(seed) && raw !== '' ? { seed } : explore ? {} : { seed: CI_FUZZ_SEED }) };
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
