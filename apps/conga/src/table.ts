/**
 * Column output like docker's tabwriter (min width 10, padding 3, last column unpadded).
 * Owner: CLI (apps/conga). Pure.
 */

/** Render rows (the first is the header) as aligned text, one line per row, ending with "\n". */
export function renderTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const cols = Math.max(...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++) {
    const w = Math.max(...rows.map((r) => [...(r[c] ?? '')].length));
    widths.push(Math.max(10, w + 3));
  }
  let out = '';
  for (const r of rows) {
    let line = '';
    for (let c = 0; c < cols; c++) {
      const cell = r[c] ?? '';
      line += c < cols - 1 ? cell + ' '.repeat(widths[c] - [...cell].length) : cell;
    }
    out += line.replace(/\s+$/, '') + '\n';
  }
  return out;
}
