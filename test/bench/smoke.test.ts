/**
 * Smoke run of `npm run bench` (N=3, one round, conga and bare runc only) so the benchmark cannot
 * rot. It checks that every scenario produced figures and that the JSON was written; it never
 * asserts on speed. Owner: benchmarks (bench/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions } from '../../bench/src/options';
import { runBench } from '../../bench/src/run-bench';

test('bench smoke: N=3, 1 round, conga + bare runc', { timeout: 240_000 }, async (t) => {
  const out = mkdtempSync('/tmp/cgb-smoke-');
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const opts = parseOptions(['--n', '3', '--repeat', '1', '--engines', 'runc,conga', '--only', 'start,memory,rm,cli,pull', '--cli-samples', '1', '--out', out], out);
  assert.ok(opts);
  const lines: string[] = [];
  const run = await runBench(opts, (l) => lines.push(l));
  const names = (subject: string) => new Set(run.figures.filter((f) => f.subject === subject).map((f) => f.figure));
  for (const f of ['start 3', 'start 3 (API)', 'rm -f 3', 'rm -f 3 (API)', 'memory PSS, idle', 'memory PSS, 3 running', 'ps', 'version', 'pull busybox']) {
    assert.ok(names('conga').has(f), `conga has no "${f}" figure`);
  }
  for (const f of ['memory PSS, 3 running', 'start 3 (API)']) assert.ok(names('conga split').has(f), `conga split has no "${f}" figure`);
  for (const f of ['start 3', 'rm -f 3', 'ps']) assert.ok(names('runc').has(f), `runc has no "${f}" figure`);
  const mem = run.figures.find((f) => f.figure === 'memory PSS, 3 running' && f.subject === 'conga')!;
  assert.ok(mem.median > 0 && /conmon ×3/.test(mem.note ?? ''), `memory must count congad and the 3 monitors: ${mem.note}`);
  assert.ok(existsSync(run.file));
  const doc = JSON.parse(readFileSync(run.file, 'utf8'));
  assert.equal(doc.figures.length, run.figures.length);
  assert.ok(lines.some((l) => l.startsWith('figure ')), 'the table was printed');
  // Nothing left behind: no bench dirs, no mounts.
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes('/tmp/cgb-runc-'), false);
});

test('bench options: bad input is refused with a clear message', () => {
  assert.throws(() => parseOptions(['--only', 'nope'], '/tmp'), /unknown scenario "nope"/);
  assert.throws(() => parseOptions(['--n', '0'], '/tmp'), /--n must be a whole number/);
  assert.equal(parseOptions(['--help'], '/tmp'), undefined);
  assert.deepEqual(parseOptions([], '/tmp')?.n, 100);
});
