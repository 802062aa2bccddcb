import { constants } from 'node:os';
import { E } from '@conga/common';

/** "SIGTERM", "TERM", "15" → 15. Unknown → InvalidArgument. */
export function parseSignal(s: string | number | undefined, fallback = 15): number {
  if (s === undefined || s === '') return fallback;
  if (typeof s === 'number' || /^\d+$/.test(s)) {
    const n = Number(s);
    if (n > 0 && n < 65) return n;
  } else {
    const name = s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
    const n = (constants.signals as Record<string, number>)[name];
    if (n) return n;
  }
  throw E.InvalidArgument(`invalid signal: ${s}`);
}
