import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyedMutex, newContext, silentLogger } from '@conga/common';
import { createStorageService } from '@conga/storage';
import { buildTar, chainIdsOf } from '../../../test/harness/busybox-image';
import { ContentStore } from './content-store';
import { collectGarbage, startupGc } from './gc';
import { ImageStore } from './image-store';
import { PinSet } from './pins';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A store with two orphan layers (parent and child) and three orphan blobs, one of them pinned. */
async function orphans(t: import('node:test').TestContext) {
  const root = mkdtempSync(join(tmpdir(), 'conga-gc-'));
  const log = silentLogger();
  const storage = await createStorageService({ dir: join(root, 'storage'), log });
  const content = new ContentStore(join(root, 'image'));
  await content.init();
  const store = new ImageStore(join(root, 'image'));
  const pins = new PinSet(join(root, 'image', 'pins'));
  pins.init();
  t.after(async () => {
    store.close();
    await storage.close();
    rmSync(root, { recursive: true, force: true });
  });
  const tars = [await buildTar([{ name: 'a', type: 'file', data: Buffer.from('a') }]), await buildTar([{ name: 'b', type: 'file', data: Buffer.from('b') }])];
  const diffIds = tars.map(sha);
  const chains = chainIdsOf(diffIds);
  for (const [i, tar] of tars.entries()) {
    const dg = await content.put(sha(tar), tar, 'layer');
    await storage.applyLayer({ chainId: chains[i], parentChainId: chains[i - 1] ?? '', diffId: diffIds[i], blobPath: dg, mediaType: 'application/vnd.oci.image.layer.v1.tar' }, newContext());
  }
  const extra = Buffer.from('pinned');
  await content.put(sha(extra), extra, 'blob');
  pins.pin(`blob:${sha(extra)}`);
  const deps = { content, store, storage, pins, locks: new KeyedMutex(), log };
  const blobs = () => readdirSync(content.blobDir).map((h) => `sha256:${h}`).sort();
  const layers = async () => (await storage.listLayers({}, newContext())).layers.map((l) => l.chainId).sort();
  return { root, deps, tars, chains, pinned: sha(extra), blobs, layers };
}

test('gc: unreferenced blobs and layers go (children before parents); pinned blobs stay', async (t) => {
  const o = await orphans(t);
  const got = await collectGarbage(o.deps, newContext(), { layers: true });
  assert.deepEqual(got.blobs.sort(), o.tars.map(sha).sort());
  assert.deepEqual(got.layers, [o.chains[1], o.chains[0]]);
  assert.deepEqual(o.blobs(), [o.pinned]);
  assert.deepEqual(await o.layers(), []);
});

test('gc at startup with a live peer on the dir: layers and recent blobs stay, old blobs go', async (t) => {
  const o = await orphans(t);
  const peer = spawn('sleep', ['30']);
  t.after(() => peer.kill('SIGKILL'));
  mkdirSync(join(o.root, 'image', 'pins', String(peer.pid)));
  const old = o.tars[0];
  utimesSync(o.deps.content.path(sha(old)), new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
  await startupGc(o.deps, join(o.root, 'image', 'pins'), newContext());
  assert.deepEqual(o.blobs(), [sha(o.tars[1]), o.pinned].sort());
  assert.deepEqual(await o.layers(), [...o.chains].sort());
  // Alone again: everything unreferenced goes.
  peer.kill('SIGKILL');
  await new Promise((r) => peer.once('exit', r));
  await startupGc(o.deps, join(o.root, 'image', 'pins'), newContext());
  assert.deepEqual(o.blobs(), [o.pinned]);
  assert.deepEqual(await o.layers(), []);
});
