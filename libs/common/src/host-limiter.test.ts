import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E } from './errors';
import { HostLimiter, HostLimiters } from './host-limiter';
import { parseConfig } from './config';

test('host limiter: never more than max-concurrent slots; waiting callers get them in order', async () => {
  const l = new HostLimiter({ 'max-concurrent': 2 });
  let active = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const release = await l.acquire();
      order.push(i);
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      release();
      release(); // a second call is harmless
    }),
  );
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('host limiter: the token bucket spaces grants by 1/rate after the burst', async () => {
  const l = new HostLimiter({ 'requests-per-second': 50, burst: 2 });
  const t0 = Date.now();
  const at: number[] = [];
  await Promise.all(Array.from({ length: 6 }, async () => (await l.acquire(), at.push(Date.now() - t0))));
  // 2 at once from the burst, then one per 20 ms: the 6th no earlier than 80 ms.
  assert.ok(at[5] >= 75, `grants at ${at.join(', ')} ms`);
});

test('host limiter: a canceled wait gives up its place; limits are per configured host', async () => {
  const l = new HostLimiter({ 'max-concurrent': 1 });
  const first = await l.acquire();
  const ac = new AbortController();
  const waiting = l.acquire(ac.signal);
  ac.abort();
  await assert.rejects(waiting, (e) => E.Canceled.is(e));
  const next = l.acquire();
  first();
  (await next)();
  const all = new HostLimiters({ 'reg.example:5000': { burst: 1 }, 'other.example': { 'max-concurrent': 1 } });
  assert.ok(all.for('reg.example:5000'));
  assert.ok(all.for('other.example:443'), 'a host without a port entry covers every port');
  assert.equal(all.for('reg.example:5001'), undefined);
});

test('daemon.json registry-rate-limits: numbers checked, empty or unknown settings refused', () => {
  assert.deepEqual(parseConfig({ 'registry-rate-limits': { 'docker.io': { 'requests-per-second': 2.5, burst: 5, 'max-concurrent': 4 } } })['registry-rate-limits'], {
    'docker.io': { 'requests-per-second': 2.5, burst: 5, 'max-concurrent': 4 },
  });
  for (const bad of [{}, { 'requests-per-second': 0 }, { 'max-concurrent': 1.5 }, { rps: 1 }]) {
    assert.throws(() => parseConfig({ 'registry-rate-limits': { 'docker.io': bad } }), (e) => E.InvalidConfig.is(e) && /registry-rate-limits/.test((e as Error).message), JSON.stringify(bad));
  }
});
