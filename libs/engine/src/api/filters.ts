import { E } from '@conga/common';

/** Docker's `filters` query parameter: {"k":["v"]} or the older {"k":{"v":true}} form. */
export function parseFilters(raw: string | undefined): Record<string, string[]> {
  if (!raw) return {};
  let f: unknown;
  try {
    f = JSON.parse(raw);
  } catch {
    throw E.InvalidArgument(`invalid filters: ${raw}`);
  }
  if (!f || typeof f !== 'object' || Array.isArray(f)) throw E.InvalidArgument(`invalid filters: ${raw}`);
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
    out[k] = Array.isArray(v) ? v.map(String) : v && typeof v === 'object' ? Object.keys(v as object) : [String(v)];
  }
  return out;
}
