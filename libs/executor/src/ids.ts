import { E } from '@conga/common';

const FULL_ID = /^[0-9a-f]{64}$/;
const NAME_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * Check a container id before it is used in a path or an argv: 64 lowercase hex digits or a
 * name-like id (letters, digits, `_ . -`, max 128, not starting with a symbol). Owned by the executor.
 */
export function validateContainerId(id: string | undefined): string {
  const v = id ?? '';
  if (!FULL_ID.test(v) && !NAME_ID.test(v)) {
    throw E.InvalidArgument(`invalid container id "${v.slice(0, 140)}": use 64 lowercase hex digits or [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}`);
  }
  return v;
}
