// Runs every test file (*.test.ts under libs/, apps/, test/) with node's test runner.
// Usage: npm test [-- <path filter>...]   e.g. npm test -- libs/storage
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', '--test-timeout=600000', ...files], {
  cwd: root,
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
