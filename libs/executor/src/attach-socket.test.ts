import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { AttachConnection } from './attach-socket';

/** A stand-in for the perl bridge process: only what AttachConnection touches. */
function fakeBridge(): ChildProcess {
  const child = new EventEmitter() as unknown as ChildProcess;
  Object.assign(child, { stdin: new PassThrough(), exitCode: null, signalCode: null, kill: () => true });
  return child;
}

const frame = (stream: number, payload: string) => {
  const b = Buffer.from(payload);
  const h = Buffer.alloc(5);
  h[0] = stream;
  h.writeUInt32BE(b.length, 1);
  return Buffer.concat([h, b]);
};

test('output in the same chunk as the connect frame reaches a listener added later', async () => {
  const conn = new AttachConnection(fakeBridge());
  // A fast command: connect frame, its whole output and the close, before the caller listens.
  assert.equal(conn.feed(Buffer.concat([frame(0, ''), frame(2, 'hello\n'), frame(3, 'oops\n')])), true);
  conn.emit('close');
  await new Promise((r) => setImmediate(r));
  const got: string[] = [];
  let closedAfter = -1;
  conn.on('data', (stream: string, b: Buffer) => got.push(`${stream}:${b.toString()}`));
  conn.on('close', () => (closedAfter = got.length));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['stdout:hello\n', 'stderr:oops\n']);
  assert.equal(closedAfter, 2, 'close comes after the held output');
  // Later output flows straight through.
  conn.feed(frame(2, 'more'));
  assert.deepEqual(got.at(-1), 'stdout:more');
});
