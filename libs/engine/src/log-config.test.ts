import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E } from '@conga/common';
import { logLimits, parseLogSize } from './log-config';
import { checkInitBinary, withInit } from './init-process';
import { mergeHealthcheck } from './health';
import { parseSignal } from './signals';

test('log options: docker sizes, max-file rules, unknown options refused', () => {
  assert.equal(parseLogSize('10k'), 10240);
  assert.equal(parseLogSize('1.5m'), 1.5 * 1024 * 1024);
  assert.equal(parseLogSize('4096'), 4096);
  assert.deepEqual(logLimits({ Type: 'json-file', Config: { 'max-size': '10k', 'max-file': '3' } }), { maxSize: 10240, maxFiles: 3 });
  assert.deepEqual(logLimits(undefined, { 'max-size': '1m' }), { maxSize: 1 << 20, maxFiles: 1 });
  assert.deepEqual(logLimits({ Type: 'none' }, { 'max-size': '1m' }), { maxSize: 0, maxFiles: 1 });
  const bads: Record<string, string>[] = [{ 'max-size': 'ten' }, { 'max-size': '0' }, { 'max-file': '3' }, { 'max-size': '1k', 'max-file': '0' }, { nope: '1' }];
  for (const bad of bads) {
    assert.throws(() => logLimits({ Type: 'json-file', Config: bad }), (e) => E.InvalidArgument.is(e), JSON.stringify(bad));
  }
  assert.throws(() => logLimits({ Type: 'syslog' }), /unknown log driver/);
});

test('--init: argv and a clear error without tini-static', () => {
  assert.deepEqual(withInit(['sh', '-c', 'x']), ['/sbin/docker-init', '--', 'sh', '-c', 'x']);
  assert.throws(() => checkInitBinary('/nonexistent/tini-static'), (e) => E.InvalidArgument.is(e) && /apt-get install tini/.test((e as Error).message));
});

test('health check: image HEALTHCHECK merged with the request like docker', () => {
  const img = { Test: ['CMD-SHELL', 'check'], Interval: 5e9, Retries: 2 };
  assert.deepEqual(mergeHealthcheck(img, undefined), img);
  assert.deepEqual(mergeHealthcheck(img, { Test: ['NONE'] })?.Test, ['NONE']);
  assert.deepEqual(mergeHealthcheck(img, { Interval: 1e9 }), { Test: ['CMD-SHELL', 'check'], Interval: 1e9, Timeout: undefined, StartPeriod: undefined, Retries: 2 });
  assert.deepEqual(mergeHealthcheck(img, { Test: ['CMD', 'other'] })?.Test, ['CMD', 'other']);
  assert.equal(mergeHealthcheck(undefined, undefined), undefined);
});

test('signals: real-time signals by name (systemd stops on SIGRTMIN+3)', () => {
  assert.equal(parseSignal('SIGRTMIN+3'), 37);
  assert.equal(parseSignal('RTMIN'), 34);
  assert.equal(parseSignal('SIGRTMAX-1'), 63);
  assert.throws(() => parseSignal('SIGRTMAX+1'));
});
