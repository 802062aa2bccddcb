import { E } from '@conga/common';

/** A parsed IPv4 CIDR: network address as an unsigned 32-bit number and prefix length. */
export interface Cidr4 {
  base: number;
  prefix: number;
}

/** Parse a dotted IPv4 address; undefined when it is not one. */
export function parseIp4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function formatIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parse "a.b.c.d/n"; throws E.InvalidArgument saying what is wrong (host bits set, bad prefix). */
export function parseCidr4(s: string, what = 'subnet'): Cidr4 {
  const [ip, len, extra] = s.split('/');
  const base = parseIp4(ip ?? '');
  const prefix = len !== undefined && /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (base === undefined || extra !== undefined || !(prefix >= 8 && prefix <= 30)) {
    throw E.InvalidArgument(`invalid ${what} "${s}": expected an IPv4 CIDR like 10.89.1.0/24 with a prefix from /8 to /30`);
  }
  if ((base & mask(prefix)) >>> 0 !== base) {
    throw E.InvalidArgument(`invalid ${what} "${s}": host bits are set; did you mean ${formatIp4((base & mask(prefix)) >>> 0)}/${prefix}?`);
  }
  return { base, prefix };
}

export function formatCidr4(c: Cidr4): string {
  return `${formatIp4(c.base)}/${c.prefix}`;
}

/** True when two subnets share any address. */
export function overlaps(a: Cidr4, b: Cidr4): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) >>> 0 === (b.base & mask(p)) >>> 0;
}

/** True when `ip` lies inside `c` (network and broadcast addresses excluded). */
export function containsHost(c: Cidr4, ip: number): boolean {
  const size = 2 ** (32 - c.prefix);
  return ip > c.base && ip < c.base + size - 1;
}

/** The first host address (the default gateway). */
export function firstHost(c: Cidr4): string {
  return formatIp4(c.base + 1);
}

/**
 * The first /24 of `pool` that overlaps none of `taken` (for networks created without --subnet).
 * Throws E.InvalidArgument when the pool is exhausted.
 */
export function pickSubnet(pool: Cidr4, taken: readonly Cidr4[]): Cidr4 {
  const count = 2 ** (24 - pool.prefix);
  for (let i = 0; i < count; i++) {
    const c = { base: pool.base + i * 256, prefix: 24 };
    if (!taken.some((t) => overlaps(t, c))) return c;
  }
  throw E.InvalidArgument(`no free /24 left in ${formatCidr4(pool)}: give --subnet`);
}
