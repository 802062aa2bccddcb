import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { E, newContext } from '@conga/common';
import type { StorageService } from '@conga/api';
import { tempDir } from './test-env';
import { writeLayer } from './test-layers';

/**
 * The storage conformance suite: registers node:test tests that any StorageService must pass
 * (the in-process one and the gRPC proxy). Needs root, overlayfs and setfattr/mknod. `make`
 * returns a fresh service; its cleanup must close it and unmount/delete its state.
 * Owner: storage. New cases may be added; existing ones only change with the proto.
 */
export function conformance(name: string, make: () => Promise<{ svc: StorageService; cleanup(): Promise<void> }>): void {
  const setup = async (t: { after(fn: () => Promise<void>): void }) => {
    const blobs = tempDir('conga-storage-blobs-');
    const s = await make();
    t.after(async () => {
      await s.cleanup();
      await blobs.cleanup();
    });
    return { svc: s.svc, blobs: blobs.dir, ctx: newContext() };
  };

  test(`${name}: layers apply, are idempotent, listed, and deleted in order`, async (t) => {
    const { svc, blobs, ctx } = await setup(t);
    const l1 = await writeLayer(blobs, [{ name: 'bin/', type: 'directory' }, { name: 'bin/tool', content: 'v1', mode: 0o755 }]);
    const l2 = await writeLayer(blobs, [{ name: 'bin/.wh.tool', content: '' }, { name: 'etc/conf', content: 'c' }], { parent: l1 });
    const a = await svc.applyLayer(l1, ctx);
    assert.deepEqual(a, { chainId: l1.chainId, parentChainId: '', diffId: l1.diffId, size: 2 });
    assert.deepEqual(await svc.applyLayer(l1, ctx), a);
    const b = await svc.applyLayer(l2, ctx);
    assert.deepEqual(b, { chainId: l2.chainId, parentChainId: l1.chainId, diffId: l2.diffId, size: 1 });
    assert.deepEqual(await svc.getLayer({ chainId: l2.chainId }, ctx), b);
    const listed = (await svc.listLayers({}, ctx)).layers;
    assert.deepEqual(listed.map((l) => l.chainId).sort(), [l1.chainId, l2.chainId].sort());
    await assert.rejects(svc.deleteLayer({ chainId: l1.chainId }, ctx), (e: unknown) => E.LayerInUse.is(e));
    await svc.deleteLayer({ chainId: l2.chainId }, ctx);
    await svc.deleteLayer({ chainId: l1.chainId }, ctx);
    assert.deepEqual((await svc.listLayers({}, ctx)).layers, []);
  });

  test(`${name}: errors are catalog errors`, async (t) => {
    const { svc, blobs, ctx } = await setup(t);
    const l1 = await writeLayer(blobs, [{ name: 'f', content: 'x' }]);
    const l2 = await writeLayer(blobs, [{ name: 'g', content: 'y' }], { parent: l1 });
    await assert.rejects(svc.getLayer({ chainId: l1.chainId }, ctx), (e: unknown) => E.LayerNotFound.is(e));
    await assert.rejects(svc.getLayer({}, ctx), (e: unknown) => E.InvalidArgument.is(e));
    await assert.rejects(svc.applyLayer(l2, ctx), (e: unknown) => E.LayerNotFound.is(e));
    await assert.rejects(svc.applyLayer({ ...l1, diffId: l2.diffId, chainId: l2.diffId }, ctx), (e: unknown) => E.DigestMismatch.is(e));
    const evil = await writeLayer(blobs, [{ name: '../../escape', content: 'x' }]);
    await assert.rejects(svc.applyLayer(evil, ctx), (e: unknown) => E.UnsafeArchive.is(e) && (e as Error).message.includes('../../escape'));
    const cut = join(blobs, 'cut.tar.gz');
    const full = readFileSync(l1.blobPath);
    writeFileSync(cut, full.subarray(0, full.length - 12));
    await assert.rejects(svc.applyLayer({ ...l1, blobPath: cut }, ctx), (e: unknown) => E.BadArchive.is(e) || E.DigestMismatch.is(e));
    await assert.rejects(svc.deleteLayer({ chainId: l1.chainId }, ctx), (e: unknown) => E.LayerNotFound.is(e));
    await assert.rejects(svc.createRootfs({ containerId: 'not-an-id' }, ctx), (e: unknown) => E.InvalidArgument.is(e));
    await assert.rejects(svc.getRootfs({ containerId: 'e'.repeat(64) }, ctx), (e: unknown) => E.RootfsNotFound.is(e));
    await assert.rejects(svc.removeRootfs({ containerId: 'e'.repeat(64) }, ctx), (e: unknown) => E.RootfsNotFound.is(e));
    await assert.rejects(svc.unmountRootfs({ containerId: 'e'.repeat(64) }, ctx), (e: unknown) => E.RootfsNotFound.is(e));
    assert.deepEqual((await svc.listLayers({}, ctx)).layers, []);
  });

  test(`${name}: a layer streamed through blob_socket unpacks before its parent is applied, and commits after it`, async (t) => {
    const { svc, blobs, ctx } = await setup(t);
    const l1 = await writeLayer(blobs, [{ name: 'bin/', type: 'directory' }, { name: 'bin/tool', content: 'v1', mode: 0o755 }]);
    const l2 = await writeLayer(blobs, [{ name: 'etc/conf', content: 'c' }], { parent: l1 });
    const feed = (blob: string, cut = 0) => {
      const path = join(blobs, `${randomBytes(4).toString('hex')}.sock`);
      const bytes = readFileSync(blob);
      const server = createServer((sock) => {
        if (cut) sock.end(bytes.subarray(0, bytes.length - cut), () => sock.destroy());
        else sock.end(bytes);
      }).listen(path);
      t.after(() => new Promise<void>((r) => server.close(() => r())));
      return path;
    };
    // The child first: it reads its stream, then waits for the parent's row.
    const child = svc.applyLayer({ ...l2, blobPath: '', blobSocket: feed(l2.blobPath) }, ctx);
    let childDone = false;
    void child.then(() => (childDone = true), () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(childDone, false, 'the child committed before its parent existed');
    await svc.applyLayer({ ...l1, blobPath: '', blobSocket: feed(l1.blobPath) }, ctx);
    assert.deepEqual(await child, { chainId: l2.chainId, parentChainId: l1.chainId, diffId: l2.diffId, size: 1 });
    // A stream that breaks off mid-way is an error and leaves nothing.
    const l3 = await writeLayer(blobs, [{ name: 'big', content: 'z'.repeat(100_000) }], { parent: l2, gzip: false });
    await assert.rejects(svc.applyLayer({ ...l3, blobPath: '', blobSocket: feed(l3.blobPath, 5000) }, ctx), (e: unknown) => E.BadArchive.is(e) || E.DigestMismatch.is(e));
    await assert.rejects(svc.applyLayer({ ...l3, blobPath: '', blobSocket: join(blobs, 'nobody.sock') }, ctx), (e: unknown) => E.InvalidArgument.is(e) && /cannot be reached/.test((e as Error).message));
    assert.deepEqual((await svc.listLayers({}, ctx)).layers.map((l) => l.chainId).sort(), [l1.chainId, l2.chainId].sort());
  });

  test(`${name}: rootfs lifecycle over a real overlay`, async (t) => {
    const { svc, blobs, ctx } = await setup(t);
    const l1 = await writeLayer(blobs, [{ name: 'bin/tool', content: 'v1' }, { name: 'etc/old', content: 'o' }]);
    const l2 = await writeLayer(blobs, [{ name: 'etc/.wh.old', content: '' }, { name: 'etc/new', content: 'n' }], { parent: l1 });
    await svc.applyLayer(l1, ctx);
    await svc.applyLayer(l2, ctx);
    const id = '0123456789abcdef'.repeat(4);
    const empty = 'f'.repeat(64);
    const c = await svc.createRootfs({ containerId: id, chainId: l2.chainId }, ctx);
    assert.equal(c.containerId, id);
    assert.equal(c.chainId, l2.chainId);
    assert.equal(c.mounted, false);
    assert.match(c.mountPath, new RegExp(`${id}/merged$`));
    await assert.rejects(svc.createRootfs({ containerId: id, chainId: l2.chainId }, ctx), (e: unknown) => E.RootfsExists.is(e));
    await svc.createRootfs({ containerId: empty, chainId: '' }, ctx);
    const [m1, m2] = await Promise.all([svc.mountRootfs({ containerId: id }, ctx), svc.mountRootfs({ containerId: id }, ctx)]);
    assert.deepEqual(m1, { ...c, mounted: true });
    assert.deepEqual(m2, m1);
    assert.deepEqual(readdirSync(join(m1.mountPath, 'etc')), ['new']);
    assert.equal(readFileSync(join(m1.mountPath, 'bin/tool'), 'utf8'), 'v1');
    const e = await svc.mountRootfs({ containerId: empty }, ctx);
    assert.deepEqual(readdirSync(e.mountPath), []);
    const list = (await svc.listRootfs({}, ctx)).rootfs.sort((a, b) => a.containerId.localeCompare(b.containerId));
    assert.deepEqual(list.map((r) => [r.containerId, r.chainId, r.mounted]), [[id, l2.chainId, true], [empty, '', true]]);
    await assert.rejects(svc.deleteLayer({ chainId: l2.chainId }, ctx), (err: unknown) => E.LayerInUse.is(err));
    assert.deepEqual(await svc.unmountRootfs({ containerId: id }, ctx), c);
    assert.deepEqual(await svc.unmountRootfs({ containerId: id }, ctx), c);
    assert.deepEqual(await svc.getRootfs({ containerId: id }, ctx), c);
    await svc.removeRootfs({ containerId: id }, ctx);
    await svc.removeRootfs({ containerId: empty }, ctx);
    assert.deepEqual((await svc.listRootfs({}, ctx)).rootfs, []);
    await svc.deleteLayer({ chainId: l2.chainId }, ctx);
    await svc.deleteLayer({ chainId: l1.chainId }, ctx);
  });
}
