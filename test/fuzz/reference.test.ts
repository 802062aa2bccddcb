import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { E } from '@conga/common';
import { familiarString, normalizedString, parseReference, type ImageReference } from '../../libs/image/src/reference';
import { assertCatalogError, fuzzParams } from './fuzz-options';

/** Fuzzing image references (libs/image/src/reference.ts): docker's grammar, never a crash. */

const lower = 'abcdefghijklmnopqrstuvwxyz0123456789';
const alnum = fc.string({ unit: fc.constantFrom(...lower), minLength: 1, maxLength: 8 });
const pathComponent = fc
  .tuple(alnum, fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), alnum), { maxLength: 2 }))
  .map(([a, rest]) => a + rest.map(([s, b]) => s + b).join(''));
const domain = fc.oneof(
  fc.constant('docker.io'),
  fc.constant('localhost'),
  fc.integer({ min: 1, max: 65535 }).map((p) => `127.0.0.1:${p}`),
  fc.tuple(alnum, alnum).map(([a, b]) => `${a}.${b}`),
  fc.tuple(alnum, fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `${a}.example:${p}`),
  fc.integer({ min: 1, max: 65535 }).map((p) => `[::1]:${p}`),
);
const tagChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-';
const tag = fc
  .tuple(fc.constantFrom(...'ABCXYZabcxyz019_'), fc.string({ unit: fc.constantFrom(...tagChars), maxLength: 40 }))
  .map(([a, b]) => a + b);
const digest = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((h) => `sha256:${h}`);

/** Valid references built from the grammar. */
const validRef = fc
  .record({
    domain: fc.option(domain, { nil: undefined }),
    path: fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
    tag: fc.option(tag, { nil: undefined }),
    digest: fc.option(digest, { nil: undefined }),
  })
  .filter((r) => !(r.domain === undefined && r.path.length === 1 && /^[a-f0-9]{64}$/.test(r.path[0])))
  // Without a registry, a first component with a "." is read as a registry host (docker's rule).
  .filter((r) => !(r.domain === undefined && r.path.length > 1 && r.path[0].includes('.')))
  .map((r) => `${r.domain ? `${r.domain}/` : ''}${r.path.join('/')}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`)
  .filter((s) => s.length < 240);

const INVALID = [E.InvalidReference.code];

function check(input: string): ImageReference | undefined {
  try {
    return parseReference(input);
  } catch (e) {
    assertCatalogError(e, INVALID, input);
    return undefined;
  }
}

/** A parsed reference must be safe to put in a URL path and a file name component. */
function assertSafe(r: ImageReference, input: string): void {
  assert.ok(!r.domain.includes('/') && !/[\s?#@]/.test(r.domain), `domain of ${input}: ${r.domain}`);
  assert.ok(!r.path.startsWith('/') && !r.path.endsWith('/'), `path of ${input}: ${r.path}`);
  for (const c of r.path.split('/')) assert.ok(c !== '' && c !== '.' && c !== '..' && /^[a-z0-9._-]+$/.test(c), `path component "${c}" of ${input}`);
  if (r.tag !== undefined) assert.match(r.tag, /^[\w][\w.-]{0,127}$/);
  if (r.digest !== undefined) assert.match(r.digest, /^sha256:[a-f0-9]{64}$/);
  assert.ok(r.tag !== undefined || r.digest !== undefined, 'a tag or a digest is always set');
}

test('fuzz reference: arbitrary strings parse or fail with InvalidReference', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ unit: fc.constantFrom(...'aZ09:/@._-[] sha'), maxLength: 80 })), (s) => {
      const r = check(s);
      if (r) assertSafe(r, s);
    }),
    fuzzParams(500),
  );
});

test('fuzz reference: grammar-valid references parse and round-trip', () => {
  fc.assert(
    fc.property(validRef, (s) => {
      const r = parseReference(s);
      assertSafe(r, s);
      assert.deepEqual(parseReference(normalizedString(r)), r, `normalised form of ${s}`);
      // Like docker's FamiliarString, "docker.io/a.b/c" is shown as "a.b/c", which reads back as
      // registry "a.b": the familiar form round-trips only when its first component is no domain.
      const first = r.path.split('/')[0];
      const ambiguous = r.domain === 'docker.io' && /[.:]/.test(first) && r.path.includes('/');
      if (!ambiguous) assert.deepEqual(parseReference(familiarString(r)), r, `familiar form of ${s}`);
      assert.equal(normalizedString(parseReference(normalizedString(r))), normalizedString(r));
    }),
    fuzzParams(500),
  );
});

test('fuzz reference: mutated valid references parse safely or fail with InvalidReference', () => {
  const mutation = fc.tuple(validRef, fc.nat(), fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom('..', '/', '//', ':', '@', '%2e%2e', '\0', '\n', '../', '#', '?', ' ')), fc.nat({ max: 3 }));
  fc.assert(
    fc.property(mutation, ([s, pos, ins, del]) => {
      const i = pos % (s.length + 1);
      const m = s.slice(0, i) + ins + s.slice(i + del);
      const r = check(m);
      if (r) assertSafe(r, m);
    }),
    fuzzParams(500),
  );
});
