// Runs every test file (*.test.ts under libs/, apps/, test/) with node's test runner.
// Usage: npm test [-- <path filter>...]   e.g. npm test -- libs/storage
// The closing line is `N passed, N failed`; files that failed are run once more (see below).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function walk(dir) {
  let out = [];
  for (const n of readdirSync(dir)) {
    if (n === 'node_modules' || n === 'dist' || n.startsWith('.')) continue;
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (n.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const files = ['libs', 'apps', 'test']
  .flatMap((d) => (existsSync(join(root, d)) ? walk(join(root, d)) : []))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.log('no test files matched');
  console.log('0 passed, 0 failed');
  process.exit(1);
}
const env = { ...process.env, CONGA_REPO: root };
const outDir = mkdtempSync(join(tmpdir(), 'conga-test-'));

/** Run `list` with node's test runner; the outcomes of every test, by file. */
function run(list, tag) {
  const out = join(outDir, `${tag}.jsonl`);
  const r = spawnSync(process.execPath, [
    '--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts/test-outcomes-reporter.mjs')}`, `--test-reporter-destination=${out}`,
    ...list,
  ], { cwd: root, stdio: 'inherit', env });
  const byFile = new Map();
  const lines = existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : [];
  for (const line of lines) {
    const t = JSON.parse(line);
    if (t.suite) continue;
    const f = t.file ? relative(root, t.file) : '(unknown file)';
    const o = byFile.get(f) ?? { passed: 0, failed: 0, skipped: 0, failures: [] };
    if (t.skip) o.skipped++;
    else if (t.ok) o.passed++;
    else {
      o.failed++;
      o.failures.push(t.name);
    }
    byFile.set(f, o);
  }
  // A runner that died or a file that never reported is a failure, not silence.
  if (r.status !== 0 && ![...byFile.values()].some((o) => o.failed)) byFile.set('(test runner)', { passed: 0, failed: 1, skipped: 0, failures: [`exit status ${r.status ?? r.signal}`] });
  return byFile;
}

const total = (m) => [...m.values()].reduce((a, o) => ({ passed: a.passed + o.passed, failed: a.failed + o.failed, skipped: a.skipped + o.skipped }), { passed: 0, failed: 0, skipped: 0 });

const first = run(files, 'first');
const failedFiles = [...first].filter(([, o]) => o.failed).map(([f]) => f);
const final = new Map(first);
const flaky = [];
// A file with failures runs once more on its own (at most MAX_RERUN files: more than that is
// not bad luck). A failure that does not repeat is reported as FLAKY, by name, above the
// closing line; one that repeats fails the run. TEST_RERUN=0 turns this off.
const MAX_RERUN = 3;
if (failedFiles.length && failedFiles.length <= MAX_RERUN && process.env.TEST_RERUN !== '0' && failedFiles.every((f) => existsSync(join(root, f)))) {
  console.log(`\ntest: ${failedFiles.length} file(s) had failures; running them once more: ${failedFiles.join(', ')}\n`);
  const again = run(failedFiles, 'rerun');
  for (const f of failedFiles) {
    const o = again.get(f) ?? { passed: 0, failed: 1, skipped: 0, failures: ['(no result on the rerun)'] };
    if (!o.failed) for (const name of first.get(f).failures) flaky.push(`${f}: ${name}`);
    final.set(f, o);
  }
  if (again.has('(test runner)')) final.set('(test runner)', again.get('(test runner)'));
}
const t = total(final);
const t1 = total(first);
console.log(`\ntest: ${files.length} files; first run ${t1.passed} passed, ${t1.failed} failed, ${t1.skipped} skipped`);
for (const [f, o] of final) for (const name of o.failures) console.log(`test: FAILED ${f}: ${name}`);
for (const x of flaky) console.log(`test: FLAKY (failed, then passed when its file ran again) ${x}`);
rmSync(outDir, { recursive: true, force: true });
if (t.passed + t.failed === 0) console.log('test: no test ran');
console.log(`${t.passed} passed, ${t.failed} failed`);
process.exit(t.failed || t.passed === 0 ? 1 : 0);
