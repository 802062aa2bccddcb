/**
 * docker's `--format` for list commands (ps, images, network ls, volume ls): `table` (the default
 * table), `table TEMPLATE` (a header row from the fields' column names, then one row per item,
 * cells split on tabs and aligned like docker's tabwriter), `json` (one `{{json .}}` line per
 * item) or a plain template (one line per item). `\t` and `\n` in the format are escapes, as in
 * docker. Rows are plain objects with docker's field names; methods (`.Label "k"`) are functions.
 * Owner: CLI (apps/conga). Pure.
 */
import { renderTemplate } from './go-template';
import { renderTable } from './table';

/** A list row for templates: docker's field names, values as docker prints them. */
export type FormatRow = Record<string, unknown>;

/**
 * Render `rows` with a --format value. Returns undefined when the default table should be used
 * (no format, or plain "table").
 */
export function renderList(format: string | undefined, rows: FormatRow[], headers: Record<string, string>): string | undefined {
  if (!format) return undefined;
  let tpl = format;
  const table = /^table(\s|$)/.test(tpl);
  if (table) tpl = tpl.slice(5);
  else if (tpl.trim() === 'json') tpl = '{{json .}}';
  tpl = tpl.trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  if (table && tpl === '') return undefined;
  if (!table) return rows.map((r) => renderTemplate(tpl, r) + '\n').join('');
  const header: FormatRow = {};
  for (const [field, name] of Object.entries(headers)) header[field] = () => name;
  const lines = [renderTemplate(tpl, header), ...rows.map((r) => renderTemplate(tpl, r))];
  return renderTable(lines.map((l) => l.split('\t')));
}

/** "k=v,k2=v2" as docker prints labels in lists; `Label` looks one up. */
export function labelFields(labels: Record<string, string> | null | undefined): { Labels: string; Label: (k: string) => string } {
  const l = labels ?? {};
  return {
    Labels: Object.entries(l)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Label: (k: string) => l[k] ?? '',
  };
}

/** docker's CreatedAt text: "2026-11-22 06:30:00 +0000 UTC". */
export function createdAt(unixSeconds: number | undefined): string {
  if (!unixSeconds) return '';
  return new Date(unixSeconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC');
}
