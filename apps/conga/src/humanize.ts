/**
 * Docker's humanised numbers and durations (go-units semantics), so output matches `docker`.
 * Owner: CLI (apps/conga). Pure functions.
 */

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Go's `%.<p>g`: p significant digits, trailing zeros dropped, exponent form for big/small. */
export function formatG(x: number, p: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return String(x);
  const [mant, expStr] = x.toExponential(p - 1).split('e');
  const exp = Number(expStr);
  const trim = (s: string): string => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= p) {
    const e = Math.abs(exp);
    return `${trim(mant)}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' + e : e}`;
  }
  return trim(x.toFixed(Math.max(0, p - 1 - exp)));
}

function scale(size: number, base: number, units: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i]];
}

/** Decimal size with `precision` significant digits: 1234567 → "1.23MB" (precision 3). */
export function humanSize(bytes: number, precision = 4): string {
  const [n, u] = scale(bytes, 1000, DECIMAL);
  return formatG(n, precision) + u;
}

/** Binary size with 4 significant digits: 4026531840 → "3.75GiB" (docker info's Total Memory). */
export function bytesSize(bytes: number): string {
  const [n, u] = scale(bytes, 1024, BINARY);
  return formatG(n, 4) + u;
}

/** Docker's HumanDuration of `ms` milliseconds: "Less than a second", "3 seconds", "About a minute"… */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3600000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3600000 / 24 / 365)} years`;
}

/** "N units ago" for a unix time in seconds, as of `now` (ms). */
export function timeAgo(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(Math.max(0, now - unixSeconds * 1000))} ago`;
}

/** Docker's short id: without "sha256:", first 12 characters. */
export function shortId(id: string): string {
  const i = id.indexOf(':');
  return (i >= 0 ? id.slice(i + 1) : id).slice(0, 12);
}

/** Cut `s` to `max` characters, ending with "…" when cut (docker's Ellipsis). */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  if (max <= 1) return chars.slice(0, max).join('');
  return chars.slice(0, max - 1).join('') + '…';
}
