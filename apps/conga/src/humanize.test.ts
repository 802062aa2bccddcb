import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesSize, ellipsis, formatG, humanDuration, humanSize, shortId, timeAgo } from './humanize';
import { renderTable } from './table';
import { familiar, parseRef, qualified } from './reference';

test('formatG follows Go %g', () => {
  assert.equal(formatG(1.5, 3), '1.5');
  assert.equal(formatG(2, 3), '2');
  assert.equal(formatG(1.23456, 3), '1.23');
  assert.equal(formatG(999.5, 3), '1e+03');
  assert.equal(formatG(123.4, 3), '123');
  assert.equal(formatG(0.0001234, 3), '0.000123');
  assert.equal(formatG(0, 3), '0');
});

test('humanSize / bytesSize like go-units', () => {
  assert.equal(humanSize(0, 3), '0B');
  assert.equal(humanSize(999, 3), '999B');
  assert.equal(humanSize(1000, 3), '1kB');
  assert.equal(humanSize(1234567, 3), '1.23MB');
  assert.equal(humanSize(4_261_412, 3), '4.26MB');
  assert.equal(humanSize(1_500_000_000), '1.5GB');
  assert.equal(humanSize(2_345_678), '2.346MB');
  assert.equal(bytesSize(4026531840), '3.75GiB');
  assert.equal(bytesSize(1024), '1KiB');
});

test('humanDuration like docker', () => {
  const s = 1000;
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1 * s), '1 second');
  assert.equal(humanDuration(3 * s), '3 seconds');
  assert.equal(humanDuration(59 * s), '59 seconds');
  assert.equal(humanDuration(60 * s), 'About a minute');
  assert.equal(humanDuration(119 * s), 'About a minute');
  assert.equal(humanDuration(5 * 60 * s), '5 minutes');
  assert.equal(humanDuration(59 * 60 * s), '59 minutes');
  assert.equal(humanDuration(60 * 60 * s), 'About an hour');
  assert.equal(humanDuration(3 * 3600 * s), '3 hours');
  assert.equal(humanDuration(47 * 3600 * s), '47 hours');
  assert.equal(humanDuration(3 * 86400 * s), '3 days');
  assert.equal(humanDuration(15 * 86400 * s), '2 weeks');
  assert.equal(humanDuration(90 * 86400 * s), '3 months');
  assert.equal(humanDuration(800 * 86400 * s), '2 years');
  assert.equal(timeAgo(1000, 1000 * 1000 + 3000), '3 seconds ago');
  assert.equal(timeAgo(2000, 1000 * 1000), 'Less than a second ago');
});

test('shortId, ellipsis', () => {
  assert.equal(shortId('sha256:0123456789abcdef0123'), '0123456789ab');
  assert.equal(shortId('0123456789abcdef'), '0123456789ab');
  assert.equal(ellipsis('short', 20), 'short');
  assert.equal(ellipsis('sh -c while true; do sleep 1; done', 20), 'sh -c while true; d…');
  assert.equal([...ellipsis('sh -c while true; do sleep 1; done', 20)].length, 20);
});

test('renderTable pads to max(10, width+3), last column unpadded', () => {
  const t = renderTable([
    ['A', 'LONGER HEADER', 'Z'],
    ['valuevaluevalue', 'b', 'last'],
  ]);
  assert.equal(t, `${'A'.padEnd(18)}${'LONGER HEADER'.padEnd(16)}Z\n${'valuevaluevalue'.padEnd(18)}${'b'.padEnd(16)}last\n`);
  assert.equal(renderTable([['X', 'Y']]), 'X         Y\n');
});

test('image references', () => {
  assert.deepEqual(parseRef('busybox'), { repo: 'busybox', tag: 'latest', digest: '' });
  assert.deepEqual(parseRef('127.0.0.1:5000/a/b:v1'), { repo: '127.0.0.1:5000/a/b', tag: 'v1', digest: '' });
  assert.deepEqual(parseRef('127.0.0.1:5000/a'), { repo: '127.0.0.1:5000/a', tag: 'latest', digest: '' });
  assert.deepEqual(parseRef('a@sha256:abc'), { repo: 'a', tag: '', digest: 'sha256:abc' });
  assert.equal(familiar(parseRef('busybox')), 'busybox:latest');
  assert.equal(qualified(parseRef('busybox')), 'docker.io/library/busybox:latest');
  assert.equal(qualified(parseRef('me/app:1')), 'docker.io/me/app:1');
  assert.equal(qualified(parseRef('localhost:5000/app')), 'localhost:5000/app:latest');
});
