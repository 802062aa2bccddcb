import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E } from '@conga/common';
import { familiarString, normalizeReference, parseReference, isFullImageId } from './reference';

const D = `sha256:${'a'.repeat(64)}`;

test('normalises like docker', () => {
  const cases: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox:x', 'docker.io/library/busybox:x', 'busybox:x'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    ['127.0.0.1:5000/busybox', '127.0.0.1:5000/busybox:latest', '127.0.0.1:5000/busybox:latest'],
    ['localhost/busybox:v1', 'localhost/busybox:v1', 'localhost/busybox:v1'],
    ['localhost:5000/a/b/c:t', 'localhost:5000/a/b/c:t', 'localhost:5000/a/b/c:t'],
    ['quay.io/coreos/etcd', 'quay.io/coreos/etcd:latest', 'quay.io/coreos/etcd:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
    [`127.0.0.1:5000/x@${D}`, `127.0.0.1:5000/x@${D}`, `127.0.0.1:5000/x@${D}`],
    ['[::1]:5000/img:tag', '[::1]:5000/img:tag', '[::1]:5000/img:tag'],
    ['a__b/c.d-e--f_g:T_a.g-1', 'docker.io/a__b/c.d-e--f_g:T_a.g-1', 'a__b/c.d-e--f_g:T_a.g-1'],
    ['Registry.Example.COM/app', 'Registry.Example.COM/app:latest', 'Registry.Example.COM/app:latest'],
    ['busybox:' + 'x'.repeat(128), 'docker.io/library/busybox:' + 'x'.repeat(128), 'busybox:' + 'x'.repeat(128)],
  ];
  for (const [input, norm, fam] of cases) {
    assert.equal(normalizeReference(input), norm, input);
    assert.equal(familiarString(parseReference(input)), fam, input);
  }
});

test('parts', () => {
  assert.deepEqual(parseReference('127.0.0.1:5000/busybox'), { domain: '127.0.0.1:5000', path: 'busybox', tag: 'latest' });
  assert.deepEqual(parseReference(`busybox@${D}`), { domain: 'docker.io', path: 'library/busybox', digest: D });
  assert.deepEqual(parseReference(`x:t@${D}`), { domain: 'docker.io', path: 'library/x', tag: 't', digest: D });
});

test('malformed references are refused with the reason', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    [' busybox', /white space/],
    ['busy box', /white space/],
    ['BusyBox', /must be lowercase/],
    ['user/App', /must be lowercase/],
    ['busybox:', /tag after ":" is empty/],
    ['busybox:' + 'x'.repeat(129), /129 characters/],
    ['busybox:-x', /tag "-x"/],
    ['busybox:.x', /tag ".x"/],
    ['busybox:a/b', /port "a"/],
    ['busybox@sha256:abc', /not a digest/],
    [`busybox@sha512:${'a'.repeat(128)}`, /only sha256/],
    [`busybox@sha256:${'A'.repeat(64)}`, /lowercase hex/],
    ['busybox@', /not a digest/],
    ['@' + D, /repository name is empty/],
    [':tag', /repository name is empty/],
    ['a//b', /empty path component/],
    ['a/', /empty path component/],
    ['-a', /path component "-a"/],
    ['a-', /path component "a-"/],
    ['a..b', /path component "a..b"/],
    ['a___b', /path component/],
    ['a$b', /path component/],
    ['127.0.0.1:port/x', /port "port"/],
    ['-bad-.com/x', /registry host/],
    ['example.com/', /empty/],
    ['a'.repeat(64), /64-character hexadecimal/],
    ['x/'.repeat(130) + 'x', /longer than 255/],
  ];
  for (const [input, re] of bad) {
    assert.throws(
      () => parseReference(input),
      (e: unknown) => {
        assert.ok(E.InvalidReference.is(e), `${input}: wrong error ${String(e)}`);
        assert.match((e as Error).message, re, input);
        return true;
      },
      input,
    );
  }
});

test('image ids', () => {
  assert.equal(isFullImageId(D), true);
  assert.equal(isFullImageId('a'.repeat(64)), true);
  assert.equal(isFullImageId('a'.repeat(63)), false);
  assert.equal(isFullImageId('busybox'), false);
});
