import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Demuxer, encodeFrame } from './demux';
import { JsonStreamParser } from './json-stream';

test('demux frames split at every byte boundary', () => {
  const all = Buffer.concat([encodeFrame(1, 'hello\n'), encodeFrame(2, 'oops\n'), encodeFrame(1, ''), encodeFrame(1, 'x'.repeat(70000))]);
  for (const step of [1, 3, 7, 8, 9, 1000, all.length]) {
    const d = new Demuxer();
    const frames = [];
    for (let i = 0; i < all.length; i += step) frames.push(...d.push(all.subarray(i, i + step)));
    assert.equal(frames.length, 4, `step ${step}`);
    assert.deepEqual(frames.map((f) => f.stream), [1, 2, 1, 1]);
    assert.equal(frames[0].data.toString(), 'hello\n');
    assert.equal(frames[1].data.toString(), 'oops\n');
    assert.equal(frames[2].data.length, 0);
    assert.equal(frames[3].data.length, 70000);
    assert.equal(d.pending, 0);
  }
});

test('demux reports an incomplete trailing frame', () => {
  const d = new Demuxer();
  const f = encodeFrame(1, 'abcdef');
  assert.deepEqual(d.push(f.subarray(0, 10)), []);
  assert.equal(d.pending, 10);
});

test('JSON stream: newline separated, glued, split inside strings with braces and escapes', () => {
  const objs = [{ status: 'a {b}' }, { id: 'x', status: 'say "}"\\' }, { progressDetail: { current: 1, total: 2 } }];
  const text = JSON.stringify(objs[0]) + '\r\n' + JSON.stringify(objs[1]) + JSON.stringify(objs[2]) + '\n';
  for (const step of [1, 2, 5, text.length]) {
    const p = new JsonStreamParser();
    const got: unknown[] = [];
    for (let i = 0; i < text.length; i += step) got.push(...p.push(text.slice(i, i + step)));
    assert.deepEqual(got, objs, `step ${step}`);
    assert.equal(p.incomplete, false);
  }
  const p = new JsonStreamParser();
  p.push('{"status":"half');
  assert.equal(p.incomplete, true);
  assert.throws(() => new JsonStreamParser().push('{"a":}'), SyntaxError);
});
