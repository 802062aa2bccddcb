import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { E, defaultConfig, loadConfig, parseConfig } from '@conga/common';
import { assertCatalogError, fuzzParams } from './fuzz-options';

/** Fuzzing daemon.json (libs/common/src/config.ts): valid or InvalidConfig, never a crash. */

const INVALID = [E.InvalidConfig.code];
const keys = Object.keys(defaultConfig);

/** Objects shaped like daemon.json: known keys (and a few unknown ones) with arbitrary JSON values. */
const configLike = fc.dictionary(
  fc.oneof(fc.constantFrom(...keys), fc.constantFrom('__proto__', 'constructor', 'group', 'debug', 'hosts'), fc.string({ maxLength: 10 })),
  fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom<unknown>('', 'runc', '/conga', '10.1.0.0/16', 'conga0', 0, -1, 65, 3, [], ['x'], {}, { runc: { path: 'runc' } }, { runc: {} }),
  ),
  { maxKeys: 6 },
);

function assertWellTyped(c: Readonly<Record<string, unknown>>): void {
  assert.ok(Object.isFrozen(c), 'the config is frozen');
  assert.deepEqual(Object.keys(c).sort(), keys.slice().sort(), 'exactly the known keys');
  for (const k of keys) {
    const d = (defaultConfig as Record<string, unknown>)[k];
    const v = c[k];
    if (Array.isArray(d)) assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), k);
    else assert.equal(typeof v, typeof d, `${k} has the type of its default`);
  }
  assert.ok(Number.isInteger(c['max-concurrent-downloads']) && (c['max-concurrent-downloads'] as number) >= 1);
  assert.equal(Object.getPrototypeOf(c), Object.prototype, 'no prototype pollution');
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
}

test('fuzz daemon.json: arbitrary values are accepted well-typed or refused with InvalidConfig', () => {
  fc.assert(
    fc.property(fc.oneof(fc.anything(), configLike), (raw) => {
      try {
        assertWellTyped(parseConfig(raw) as unknown as Record<string, unknown>);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assertCatalogError(e, INVALID, raw);
      }
    }),
    fuzzParams(500),
  );
});

test('fuzz daemon.json: file text (JSON-ish, truncated, __proto__) loads or fails with InvalidConfig', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-fuzz-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'daemon.json');
  const text = fc.oneof(
    fc.string({ maxLength: 200 }),
    configLike.map((o) => JSON.stringify(o)),
    fc.tuple(configLike, fc.nat()).map(([o, n]) => JSON.stringify(o).slice(0, n % 50)),
    fc.constantFrom('{"__proto__": {"polluted": 1}}', '{"constructor": {"prototype": {"polluted": 1}}}', '\ufeff{}', '[]', 'null', '1', '"x"', '{"log-level": "info", "log-level": "debug"}'),
  );
  fc.assert(
    fc.property(text, (s) => {
      writeFileSync(file, s);
      try {
        assertWellTyped(loadConfig(file) as unknown as Record<string, unknown>);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assertCatalogError(e, INVALID, s);
      }
    }),
    fuzzParams(300),
  );
});
