/**
 * The table printed at the end and the targets of issue 9. Owner: benchmarks (bench/).
 */
import type { Figure } from './stats';

/** Figure name of the floor (bare runc) to compare a figure with. */
function floorOf(figure: string): string {
  return figure.replace(' (API)', '');
}

function fmt(v: number, unit: string): string {
  if (unit === 'MB') return v >= 100 ? v.toFixed(0) : v.toFixed(1);
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return '-';
  return `${(a / b).toFixed(2)}×`;
}

/** One fixed-width table: figure, subject, min/median/max, ratio to bare runc and to docker. */
export function renderTable(figures: Figure[]): string {
  const med = (figure: string, subject: string) => figures.find((f) => f.figure === figure && f.subject === subject)?.median;
  const header = ['figure', 'subject', 'unit', 'min', 'median', 'max', '×runc', '×docker'];
  const rows = figures.map((f) => [
    f.figure,
    f.subject,
    f.unit,
    fmt(f.min, f.unit),
    fmt(f.median, f.unit),
    fmt(f.max, f.unit),
    f.subject === 'runc' ? '1.00×' : ratio(f.median, med(floorOf(f.figure), 'runc')),
    f.subject === 'docker' ? '1.00×' : ratio(f.median, med(f.figure, 'docker')),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  const notes = figures.filter((f) => f.note).map((f) => `  ${f.figure} / ${f.subject}: ${f.note}`);
  if (notes.length) out.push('', 'breakdown (last round):', ...notes);
  return out.join('\n');
}

/** A target of issue 9 and whether it was met (undefined: not measured in this run). */
export interface TargetCheck {
  target: string;
  value: string;
  met: boolean | undefined;
}

/** The four targets of issue 9, checked against the medians. */
export function checkTargets(figures: Figure[], n: number): TargetCheck[] {
  const med = (figure: string, subject: string) => figures.find((f) => f.figure === figure && f.subject === subject)?.median;
  const check = (target: string, a: number | undefined, b: number | undefined, limit: number, show: (r: number) => string): TargetCheck => {
    if (a === undefined || b === undefined) return { target, value: 'not measured', met: undefined };
    const r = a / b;
    return { target, value: show(r), met: r <= limit };
  };
  return [
    check(`start ${n} via conga CLI ≤ 1.5× bare runc`, med(`start ${n}`, 'conga'), med(`start ${n}`, 'runc'), 1.5, (r) => `${r.toFixed(2)}×`),
    check(`memory PSS, ${n} running, all-in-one ≤ 25% of docker`, med(`memory PSS, ${n} running`, 'conga'), med(`memory PSS, ${n} running`, 'docker'), 0.25, (r) => `${(r * 100).toFixed(0)}%`),
    check(`rm -f of ${n} ≤ 1/3 of docker's time`, med(`rm -f ${n}`, 'conga'), med(`rm -f ${n}`, 'docker'), 1 / 3, (r) => `${(r * 100).toFixed(0)}% of docker`),
    check('conga ps ≤ 50 ms wall', med('ps', 'conga'), 1, 50, (r) => `${r.toFixed(0)} ms`),
  ];
}

/** The targets as text lines. */
export function renderTargets(checks: TargetCheck[]): string {
  return ['targets (medians):', ...checks.map((c) => `  [${c.met === undefined ? ' ? ' : c.met ? ' ok' : 'MISS'}] ${c.target}: ${c.value}`)].join('\n');
}
