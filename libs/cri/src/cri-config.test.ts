import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E, parseConfig } from '@conga/common';

test('daemon.json "cri": on by default, validated, typos refused', () => {
  assert.equal(parseConfig({}).cri.enabled, true);
  const c = parseConfig({ cri: { enabled: false, socket: '/run/x/cri.sock', 'runtime-handlers': { fast: { sandboxer: 'runc' } }, 'streaming-port': 10010 } });
  assert.equal(c.cri.enabled, false);
  assert.deepEqual(c.cri['runtime-handlers'], { fast: { sandboxer: 'runc' } });
  for (const bad of [{ cri: { enable: true } }, { cri: { socket: 'relative.sock' } }, { cri: { 'runtime-handlers': { kata: { sandboxer: 'kata' } } } }, { cri: { 'streaming-port': 70000 } }]) {
    assert.throws(() => parseConfig(bad), (e: unknown) => E.InvalidConfig.is(e), JSON.stringify(bad));
  }
});
