import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import pino from 'pino';
import { E, newContext, silentLogger } from '@conga/common';
import { createStorageService } from './storage-service';
import { StorageDb } from './storage-db';
import { tempStorage } from './test-env';
import { buildTar, sha256, writeLayer } from './test-layers';

const ctx = newContext();
const layerDirs = (storageDir: string) => readdirSync(join(storageDir, 'layers')).sort();

test('layers: plain tar, idempotent apply, get/list, parent chain and delete rules', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const base = await writeLayer(env.dir, [{ name: 'f', content: 'base' }], { gzip: false });
  const child = await writeLayer(env.dir, [{ name: 'g', content: 'child' }], { parent: base });
  await assert.rejects(env.svc.applyLayer(child, ctx), (e: unknown) => E.LayerNotFound.is(e) && (e as Error).message.includes(base.chainId));
  assert.deepEqual(layerDirs(env.storageDir), []);
  const a = await env.svc.applyLayer(base, ctx);
  assert.deepEqual(a, { chainId: base.chainId, parentChainId: '', diffId: base.diffId, size: 4 });
  assert.deepEqual(await env.svc.applyLayer({ ...base, blobPath: '/nonexistent' }, ctx), a, 'an existing layer is returned as is');
  const c = await env.svc.applyLayer(child, ctx);
  assert.equal(c.parentChainId, base.chainId);
  assert.deepEqual(await env.svc.getLayer({ chainId: child.chainId }, ctx), c);
  assert.deepEqual((await env.svc.listLayers({}, ctx)).layers.map((l) => l.chainId).sort(), [base.chainId, child.chainId].sort());
  await assert.rejects(env.svc.deleteLayer({ chainId: base.chainId }, ctx), (e: unknown) => E.LayerInUse.is(e) && (e as Error).message.includes(child.chainId));
  await env.svc.deleteLayer({ chainId: child.chainId }, ctx);
  await env.svc.deleteLayer({ chainId: base.chainId }, ctx);
  await assert.rejects(env.svc.deleteLayer({ chainId: base.chainId }, ctx), (e: unknown) => E.LayerNotFound.is(e));
  await assert.rejects(env.svc.getLayer({ chainId: base.chainId }, ctx), (e: unknown) => E.LayerNotFound.is(e));
  assert.deepEqual(layerDirs(env.storageDir), []);
  assert.deepEqual(readdirSync(join(env.storageDir, 'l')), []);
});

test('layers: bad input is refused with catalog errors and leaves nothing', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const good = await writeLayer(env.dir, [{ name: 'f', content: 'x' }]);
  const isInvalid = (e: unknown) => E.InvalidArgument.is(e);
  await assert.rejects(env.svc.applyLayer({ ...good, chainId: 'sha256:../../etc' }, ctx), isInvalid);
  await assert.rejects(env.svc.applyLayer({ ...good, chainId: '' }, ctx), isInvalid);
  await assert.rejects(env.svc.applyLayer({ ...good, diffId: 'md5:abc' }, ctx), isInvalid);
  await assert.rejects(env.svc.applyLayer({ ...good, chainId: 'sha256:' + 'a'.repeat(64) }, ctx), (e: unknown) => isInvalid(e) && /does not match/.test((e as Error).message));
  await assert.rejects(env.svc.applyLayer({ ...good, mediaType: 'application/json' }, ctx), isInvalid);
  await assert.rejects(env.svc.applyLayer({ ...good, blobPath: 'relative.tar' }, ctx), isInvalid);
  await assert.rejects(env.svc.applyLayer({ ...good, blobPath: join(env.dir, 'missing') }, ctx), isInvalid);
  await assert.rejects(env.svc.getLayer({ chainId: 'nope' }, ctx), isInvalid);

  // diff ID mismatch: a valid tar whose digest is not the declared one.
  const other = await buildTar([{ name: 'other', content: 'y' }]);
  const wrong = { ...good, diffId: sha256(other), chainId: sha256(other) };
  await assert.rejects(env.svc.applyLayer(wrong, ctx), (e: unknown) => E.DigestMismatch.is(e) && (e as Error).message.includes(good.diffId));

  // Truncated gzip.
  const truncated = join(env.dir, 'truncated.tar.gz');
  const full = readFileSync(good.blobPath);
  writeFileSync(truncated, full.subarray(0, Math.floor(full.length / 2)));
  await assert.rejects(env.svc.applyLayer({ ...good, blobPath: truncated }, ctx), (e: unknown) => E.BadArchive.is(e));

  // Garbage that is neither gzip nor tar.
  const garbage = join(env.dir, 'garbage');
  writeFileSync(garbage, Buffer.alloc(2048, 0x41));
  await assert.rejects(env.svc.applyLayer({ ...good, blobPath: garbage, diffId: sha256(Buffer.alloc(2048, 0x41)), chainId: sha256(Buffer.alloc(2048, 0x41)) }, ctx), (e: unknown) => E.BadArchive.is(e) || E.DigestMismatch.is(e));

  // A corrupt zstd frame (zstd layers are supported since issue 3) is refused as a bad archive.
  const zst = join(env.dir, 'layer.tar.zst');
  writeFileSync(zst, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
  await assert.rejects(env.svc.applyLayer({ ...good, blobPath: zst, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }, ctx), (e: unknown) => E.BadArchive.is(e) || E.DigestMismatch.is(e));

  assert.deepEqual((await env.svc.listLayers({}, ctx)).layers, []);
  assert.deepEqual(layerDirs(env.storageDir), []);
  // And the good one still applies afterwards.
  await env.svc.applyLayer(good, ctx);
  assert.equal(layerDirs(env.storageDir).length, 1);
});

test('layers: concurrent applies of one chain ID do the work once; different chains do not wait', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const big = Buffer.alloc(4 << 20, 7);
  const l = await writeLayer(env.dir, [{ name: 'big', content: big }, { name: 'small', content: 's' }]);
  const m = await writeLayer(env.dir, [{ name: 'other', content: 'o' }]);
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const logged = newContext(pino({ level: 'info' }, sink));
  const results = await Promise.all([
    env.svc.applyLayer(l, logged),
    env.svc.applyLayer(l, logged),
    env.svc.applyLayer(m, logged),
    env.svc.applyLayer(l, logged),
  ]);
  assert.equal(lines.filter((x) => x.includes('"layer applied"')).length, 2, 'each chain ID was unpacked exactly once');
  assert.deepEqual(results[0], results[1]);
  assert.deepEqual(results[0], results[3]);
  assert.equal(results[2].chainId, m.chainId);
  assert.equal((await env.svc.listLayers({}, ctx)).layers.length, 2);
  assert.deepEqual(layerDirs(env.storageDir), [l.chainId.slice(7), m.chainId.slice(7)].sort());
});

test('layers: docker media types and gzip declared as tar are handled by content', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const l = await writeLayer(env.dir, [{ name: 'f', content: 'x' }]);
  await env.svc.applyLayer({ ...l, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }, ctx);
  const tar = await buildTar([{ name: 'g', content: 'y' }]);
  const p = join(env.dir, 'mislabelled');
  writeFileSync(p, gzipSync(tar));
  const r = await env.svc.applyLayer({ chainId: sha256(tar), diffId: sha256(tar), blobPath: p, mediaType: 'application/vnd.oci.image.layer.v1.tar' }, ctx);
  assert.equal(r.size, 1);
});

test('layers and rootfs: crash leftovers are cleaned at open', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const l1 = await writeLayer(env.dir, [{ name: 'a', content: '1' }]);
  const l2 = await writeLayer(env.dir, [{ name: 'b', content: '2' }], { parent: l1 });
  const l3 = await writeLayer(env.dir, [{ name: 'c', content: '3' }]);
  await env.svc.applyLayer(l1, ctx);
  await env.svc.applyLayer(l2, ctx);
  await env.svc.applyLayer(l3, ctx);
  const keep = 'c'.repeat(64);
  const orphanRow = 'd'.repeat(64);
  await env.svc.createRootfs({ containerId: keep, chainId: l3.chainId }, ctx);
  await env.svc.createRootfs({ containerId: orphanRow, chainId: l3.chainId }, ctx);
  await env.svc.mountRootfs({ containerId: keep }, ctx);
  await env.svc.close();

  const sd = env.storageDir;
  mkdirSync(join(sd, 'layers', '.tmp-deadbeef-1234'));
  writeFileSync(join(sd, 'layers', '.tmp-deadbeef-1234', 'junk'), 'x');
  mkdirSync(join(sd, 'layers', 'e'.repeat(64))); // dir without row
  mkdirSync(join(sd, 'rootfs', 'f'.repeat(64))); // rootfs dir without row
  mkdirSync(join(sd, 'rootfs', '.tmp-x-1'));
  const { rmSync } = await import('node:fs');
  rmSync(join(sd, 'layers', l1.chainId.slice(7)), { recursive: true }); // row without dir (and l2 loses its parent)
  rmSync(join(sd, 'rootfs', orphanRow), { recursive: true });
  const db = new StorageDb(join(sd, 'storage.db'));
  assert.equal(db.listLayers().length, 3);
  db.close();

  const svc = await createStorageService({ dir: sd, log: silentLogger() });
  t.after(() => svc.close());
  assert.deepEqual((await svc.listLayers({}, ctx)).layers.map((l) => l.chainId), [l3.chainId]);
  assert.deepEqual(layerDirs(sd), [l3.chainId.slice(7)]);
  assert.deepEqual(readdirSync(join(sd, 'l')), [l3.chainId.slice(7, 27)]);
  assert.deepEqual(readdirSync(join(sd, 'rootfs')), [keep]);
  const rl = await svc.listRootfs({}, ctx);
  assert.deepEqual(rl.rootfs.map((r) => [r.containerId, r.mounted]), [[keep, true]], 'a mounted rootfs survives a restart (live restore)');
  await svc.removeRootfs({ containerId: keep }, ctx);
});

test('layers: an aborted apply is canceled and leaves nothing', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const l = await writeLayer(env.dir, [{ name: 'f', content: 'x' }]);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(env.svc.applyLayer(l, newContext(silentLogger(), { signal: ac.signal })), (e: unknown) => E.Canceled.is(e));
  assert.deepEqual(layerDirs(env.storageDir), []);
  assert.deepEqual((await env.svc.listLayers({}, ctx)).layers, []);
  await env.svc.applyLayer(l, ctx);
});
