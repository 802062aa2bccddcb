import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, ErrorKinds, CongaError, KeyedMutex, SingleFlight, loadConfig, parseConfig, digestHex } from './index';

test('error catalog: stable unique codes, every kind mapped to gRPC and HTTP', () => {
  const codes = new Set<string>();
  for (const [name, def] of Object.entries(E)) {
    assert.match(def.code, /^CONGA_ERR_[A-Z_]+$/, name);
    assert.ok(!codes.has(def.code), `duplicate code ${def.code}`);
    codes.add(def.code);
    assert.ok(def.kind in ErrorKinds, `${name} has an unknown kind`);
  }
  const e = E.ImageNotFound('busybox:nope');
  assert.ok(e instanceof CongaError);
  assert.equal(e.httpStatus, 404);
  assert.equal(e.grpcCode, 5);
  assert.equal(e.message, 'No such image: busybox:nope');
  assert.ok(E.ImageNotFound.is(e));
  assert.ok(!E.ContainerNotFound.is(e));
});

test('daemon.json: defaults, validation with a clear message, frozen result', () => {
  const c = parseConfig({ 'insecure-registries': ['r:5000'] });
  assert.deepEqual(c['insecure-registries'], ['r:5000']);
  assert.equal(c['max-concurrent-downloads'], 3);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c['insecure-registries']));
  assert.throws(() => parseConfig({ 'insecure-registry': ['x'] }), (e: any) => e.code === 'CONGA_ERR_CONFIG_INVALID' && /insecure-registry/.test(e.message));
  assert.throws(() => parseConfig({ 'max-concurrent-downloads': 0 }), /max-concurrent-downloads/);
  const dir = mkdtempSync(join(tmpdir(), 'conga-cfg-'));
  try {
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    assert.throws(() => loadConfig(join(dir, 'bad.json')), /not valid JSON/);
    assert.throws(() => loadConfig(join(dir, 'missing.json')), /cannot read it/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('digests are validated before use as paths', () => {
  assert.equal(digestHex('sha256:' + 'a'.repeat(64)), 'a'.repeat(64));
  for (const bad of ['sha256:../../etc', 'sha256:' + 'A'.repeat(64), 'md5:abc', 'sha256:' + 'a'.repeat(63)]) {
    assert.throws(() => digestHex(bad), (e: any) => e.code === 'CONGA_ERR_DIGEST_INVALID');
  }
});

test('KeyedMutex serializes one key and not others; SingleFlight shares a call', async () => {
  const m = new KeyedMutex();
  const order: string[] = [];
  const slow = (tag: string, ms: number) => () => new Promise<void>((r) => setTimeout(() => (order.push(tag), r()), ms));
  await Promise.all([m.run('a', slow('a1', 30)), m.run('a', slow('a2', 1)), m.run('b', slow('b1', 5))]);
  assert.deepEqual(order, ['b1', 'a1', 'a2']);
  assert.equal(m.busy('a'), false);
  const sf = new SingleFlight<number>();
  let calls = 0;
  const f = () => new Promise<number>((r) => setTimeout(() => r(++calls), 5));
  const [x, y] = await Promise.all([sf.do('k', f), sf.do('k', f)]);
  assert.equal(x, 1);
  assert.equal(y, 1);
  assert.equal(calls, 1);
});
