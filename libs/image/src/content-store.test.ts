import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { E } from '@conga/common';
import { ContentStore } from './content-store';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('ingest aborts as soon as a blob exceeds its declared size and keeps no file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conga-cs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cs = new ContentStore(dir);
  await cs.init();
  const want = Buffer.alloc(1000, 1);
  let sent = 0;
  // A hostile registry: an endless body for a 1000-byte descriptor.
  const endless = Readable.from(
    (function* () {
      for (;;) {
        sent += 4096;
        yield Buffer.alloc(4096, 7);
      }
    })(),
  );
  await assert.rejects(cs.ingest(endless, sha256(want), { size: 1000, what: 'layer x' }), (e) => {
    assert.ok(E.BlobSizeExceeded.is(e), String(e));
    assert.match((e as Error).message, /layer x is larger than the 1000 bytes/);
    return true;
  });
  assert.ok(sent < 1 << 20, `read ${sent} bytes of an endless body`);
  assert.deepEqual(await cs.ingestFiles(), []);
  assert.deepEqual(await readdir(cs.blobDir), []);
  // Exact size passes; a short body fails naming both sizes; invalid sizes are refused up front.
  assert.equal(await cs.ingest(Readable.from([want]), sha256(want), { size: 1000, what: 'ok' }), cs.path(sha256(want)));
  const other = Buffer.alloc(10, 2);
  await assert.rejects(cs.ingest(Readable.from([other]), sha256(other), { size: 11, what: 'short' }), /10 bytes, expected 11/);
  for (const size of [Infinity, 1.5, -1]) {
    await assert.rejects(cs.ingest(Readable.from([other]), sha256(other), { size, what: 'bad' }), (e) => E.InvalidArgument.is(e));
  }
  assert.deepEqual(await cs.ingestFiles(), []);
});

test('init keeps the staging dirs of live processes and drops those of dead ones', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conga-cs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(join(dir, 'ingest', '1'), { recursive: true }); // pid 1 (init) is alive
  writeFileSync(join(dir, 'ingest', '1', 'partial'), 'x');
  mkdirSync(join(dir, 'ingest', '999999999'), { recursive: true }); // no such pid
  writeFileSync(join(dir, 'ingest', 'stray-from-old-layout'), 'x');
  await new ContentStore(dir).init();
  assert.deepEqual((await readdir(join(dir, 'ingest'))).sort(), ['1', String(process.pid)].sort());
  assert.deepEqual(await readdir(join(dir, 'ingest', '1')), ['partial']);
});

test('a blob damaged on disk is detected when read: removed and reported as BlobCorrupt', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conga-cs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cs = new ContentStore(dir);
  await cs.init();
  const data = Buffer.from('{"architecture":"amd64"}');
  const dg = sha256(data);
  await cs.put(dg, data, 'config');
  assert.deepEqual(await cs.read(dg), data);
  const bad = Buffer.from(data);
  bad[3] ^= 0xff;
  await writeFile(cs.path(dg), bad);
  await assert.rejects(cs.read(dg, 'config of x'), (e: Error) => E.BlobCorrupt.is(e) && e.message.includes(dg) && e.message.includes(sha256(bad)) && e.message.includes('rmi -f'));
  assert.equal(await cs.has(dg), false, 'the damaged blob is removed');
});
