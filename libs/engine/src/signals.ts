import { constants } from 'node:os';
import { E } from '@conga/common';

/** "SIGTERM", "TERM", "15" → 15; "SIGRTMIN+3" → 37. Unknown → InvalidArgument. */
export function parseSignal(s: string | number | undefined, fallback = 15): number {
  if (s === undefined || s === '') return fallback;
  if (typeof s === 'number' || /^\d+$/.test(s)) {
    const n = Number(s);
    if (n > 0 && n < 65) return n;
  } else if (/^(SIG)?RTM(IN|AX)([+-]\d+)?$/i.test(s)) {
    // Real-time signals as glibc numbers them (SIGRTMIN 34, SIGRTMAX 64): systemd stops on SIGRTMIN+3.
    const m = /^(?:SIG)?RTM(IN|AX)([+-]\d+)?$/i.exec(s)!;
    const n = (m[1].toUpperCase() === 'IN' ? 34 : 64) + Number(m[2] ?? 0);
    if (n >= 34 && n <= 64) return n;
  } else {
    const name = s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
    const n = (constants.signals as Record<string, number>)[name];
    if (n) return n;
  }
  throw E.InvalidArgument(`invalid signal: ${s}`);
}
