import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyProbe, healthArgv, startingHealth } from './health';

const r = (exitCode: number) => ({ start: new Date(0), end: new Date(1), exitCode, output: 'x'.repeat(5000) });

test('healthArgv follows docker Test forms', () => {
  assert.equal(healthArgv(undefined), undefined);
  assert.equal(healthArgv({ Test: ['NONE'] }), undefined);
  assert.deepEqual(healthArgv({ Test: ['CMD', 'true', 'a'] }), ['true', 'a']);
  assert.deepEqual(healthArgv({ Test: ['CMD-SHELL', 'exit 1'] }), ['/bin/sh', '-c', 'exit 1']);
});

test('applyProbe: streaks, retries, start period and a log of 5', () => {
  let h = startingHealth();
  h = applyProbe(h, r(1), true, 2);
  assert.deepEqual([h.Status, h.FailingStreak], ['starting', 0]);
  h = applyProbe(h, r(1), false, 2);
  assert.deepEqual([h.Status, h.FailingStreak], ['starting', 1]);
  h = applyProbe(h, r(1), false, 2);
  assert.deepEqual([h.Status, h.FailingStreak], ['unhealthy', 2]);
  h = applyProbe(h, r(0), false, 2);
  assert.deepEqual([h.Status, h.FailingStreak], ['healthy', 0]);
  for (let i = 0; i < 4; i++) h = applyProbe(h, r(1), false, 9);
  assert.deepEqual([h.Status, h.FailingStreak, h.Log.length], ['healthy', 4, 5]);
  assert.equal(h.Log[0].Output.length, 4096);
});
