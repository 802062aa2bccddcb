/**
 * Figures: samples of one measured quantity for one subject, summarised as min/median/max.
 * Owner: benchmarks (bench/).
 */

/** What a figure counts. */
export type Unit = 'ms' | 'MB';

/** One row of the results: a quantity measured for one subject over the rounds. */
export interface Figure {
  /** e.g. "start 100 (CLI)", "memory PSS, 100 running". */
  figure: string;
  /** e.g. "conga", "conga split", "docker", "runc". */
  subject: string;
  unit: Unit;
  samples: number[];
  min: number;
  median: number;
  max: number;
  /** Free text shown under the table (e.g. a per-component breakdown). */
  note?: string;
}

/** Median of a non-empty list (mean of the middle two for even lengths). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Collects samples by (figure, subject) and turns them into {@link Figure}s. */
export class Results {
  private readonly rows = new Map<string, { figure: string; subject: string; unit: Unit; samples: number[]; note?: string }>();

  add(figure: string, subject: string, unit: Unit, value: number, note?: string): void {
    const key = `${figure}\u0000${subject}`;
    let row = this.rows.get(key);
    if (!row) this.rows.set(key, (row = { figure, subject, unit, samples: [] }));
    row.samples.push(value);
    if (note) row.note = note;
  }

  figures(): Figure[] {
    return [...this.rows.values()].map((r) => ({
      ...r,
      min: Math.min(...r.samples),
      median: median(r.samples),
      max: Math.max(...r.samples),
    }));
  }
}
