// The nightly-size fuzz run (issue 10): every property of test/fuzz at FUZZ_RUNS cases
// (default 10000), one property at a time (each its own node process, so one crash or hang
// does not hide the others), each with a fresh random seed that is printed so a failure can
// be replayed with FUZZ_SEED=<seed> FUZZ_RUNS=<runs>.
// Usage: npm run fuzz [-- --runs N] [-- --only <file substring>]
// Closing lines: a table target | cases | seed | wall | result, then `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const dir = join(root, 'test/fuzz');
const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const runs = Number(opt('--runs') ?? process.env.FUZZ_RUNS ?? 10_000);
const only = opt('--only');
if (!Number.isInteger(runs) || runs <= 0) throw new Error(`--runs must be a positive integer, got ${opt('--runs')}`);
const logs = join(tmpdir(), `conga-fuzz-${Date.now()}`);
mkdirSync(logs, { recursive: true });

/** The properties of a file: every `test('...'` whose body runs fc.assert (regression tests run in CI). */
function properties(file) {
  const src = readFileSync(join(dir, file), 'utf8');
  return [...src.matchAll(/test\('([^']+)'/g)].map((m) => m[1]).filter((n) => !n.startsWith('regressions'));
}

const rows = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith('.test.ts') && (!only || f.includes(only))).sort()) {
  for (const name of properties(file)) {
    const seed = process.env.FUZZ_SEED && process.env.FUZZ_SEED !== 'random' ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
    const pattern = `${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
    const start = Date.now();
    // A 10k-case property can take an hour (CRI pods start real containers): no per-test limit but 3 h.
    const r = spawnSync('nice', ['-n', '10', process.execPath, '--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=10800000', '--test-reporter=spec', `--test-name-pattern=${pattern}`, join(dir, file)], {
      cwd: root,
      env: { ...process.env, CONGA_REPO: root, FUZZ_RUNS: String(runs), FUZZ_SEED: String(seed) },
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    const log = join(logs, `${file}-${rows.length}.log`);
    writeFileSync(log, `${r.stdout}\n${r.stderr}`);
    // A pattern that ran nothing also exits 0: a property counts only when it reported a pass.
    rows.push({ target: `${file.replace('.test.ts', '')}: ${name}`, seed, secs: Math.round((Date.now() - start) / 1000), ok: r.status === 0 && r.stdout.includes(`✔ ${name}`), log });
    const last = rows[rows.length - 1];
    console.log(`${last.ok ? 'ok  ' : 'FAIL'} ${last.target} | ${runs} | seed ${seed} | ${last.secs} s${last.ok ? '' : ` | ${log}`}`);
  }
}
console.log('\ntarget | cases | seed | wall | result');
for (const r of rows) console.log(`${r.target} | ${runs} | ${r.seed} | ${r.secs} s | ${r.ok ? 'pass' : `FAIL (replay: FUZZ_RUNS=${runs} FUZZ_SEED=${r.seed}; log ${r.log})`}`);
const failed = rows.filter((r) => !r.ok).length;
console.log(`${rows.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && rows.length > 0 ? 0 : 1);
