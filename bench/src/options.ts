/**
 * Command-line options of `npm run bench`. Owner: benchmarks (bench/).
 */
import { parseArgs } from 'node:util';

/** The scenarios the bench knows; `--only` picks a subset. */
export const SCENARIOS = ['start', 'memory', 'rm', 'cli', 'pull', 'cri'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** The things measured side by side. `runc` is the physical floor. */
export const SUBJECTS = ['runc', 'conga', 'docker', 'podman'] as const;
export type SubjectName = (typeof SUBJECTS)[number];

/** Parsed options; every field has a default. */
export interface BenchOptions {
  /** Containers per round (default 100). */
  n: number;
  /** Rounds; figures are min/median/max over them (default 3). */
  repeat: number;
  /** Scenarios to run (default all). */
  only: Scenario[];
  /** Subjects to measure (default: all that are installed). */
  subjects: SubjectName[];
  /** Directory for the JSON results (default bench/results). */
  out: string;
  /** Samples per CLI command per round (default 10). */
  cliSamples: number;
}

export const USAGE = `Usage: npm run bench -- [OPTIONS]

Measures Conga side by side with bare runc (the floor), docker and podman (when installed).

Options:
  --only LIST       scenarios, comma separated: ${SCENARIOS.join('|')} (default all)
  --n N             containers per round (default 100)
  --repeat R        rounds; figures are min/median/max (default 3)
  --engines LIST    subjects, comma separated: ${SUBJECTS.join('|')} (default all installed)
  --out DIR         where the JSON goes (default bench/results)
  --cli-samples K   timed runs of each CLI command per round (default 10)
  -h, --help        this help
`;

function list<T extends string>(raw: string | undefined, allowed: readonly T[], what: string): T[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) {
    if (!allowed.includes(i as T)) throw new Error(`unknown ${what} "${i}": use one of ${allowed.join(', ')}`);
  }
  return items as T[];
}

function positive(raw: string | undefined, dflt: number, what: string): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a whole number ≥ 1, not "${raw}"`);
  return v;
}

/** Parse argv (without node and the script). Returns undefined for --help. */
export function parseOptions(argv: string[], defaultOut: string): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      n: { type: 'string' },
      repeat: { type: 'string' },
      engines: { type: 'string' },
      out: { type: 'string' },
      'cli-samples': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  return {
    n: positive(values.n, 100, '--n'),
    repeat: positive(values.repeat, 3, '--repeat'),
    only: list(values.only, SCENARIOS, 'scenario') ?? [...SCENARIOS],
    subjects: list(values.engines, SUBJECTS, 'engine') ?? [...SUBJECTS],
    out: values.out ?? defaultOut,
    cliSamples: positive(values['cli-samples'], 10, '--cli-samples'),
  };
}
