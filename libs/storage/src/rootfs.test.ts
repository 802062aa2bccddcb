import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E, newContext } from '@conga/common';
import { mountsUnder } from './mountinfo';
import { tempStorage } from './test-env';
import { writeLayer, type TestLayer } from './test-layers';

const ctx = newContext();
const cid = (c: string) => c.repeat(64);

test('rootfs: whiteouts and opaque dirs across two layers hide lower files in the real overlay', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const l1 = await writeLayer(env.dir, [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/keep', content: 'keep' },
    { name: 'etc/deleted', content: 'gone' },
    { name: 'opq/', type: 'directory' },
    { name: 'opq/old1', content: 'o1' },
    { name: 'opq/sub/old2', content: 'o2' },
    { name: 'dir-deleted/file', content: 'x' },
  ]);
  const l2 = await writeLayer(env.dir, [
    { name: 'etc/.wh.deleted', content: '' },
    { name: 'etc/added', content: 'new' },
    { name: 'opq/', type: 'directory' },
    { name: 'opq/.wh..wh..opq', content: '' },
    { name: 'opq/fresh', content: 'f' },
    { name: '.wh.dir-deleted', content: '' },
  ], { parent: l1 });
  await env.svc.applyLayer(l1, ctx);
  await env.svc.applyLayer(l2, ctx);
  const id = cid('a');
  const created = await env.svc.createRootfs({ containerId: id, chainId: l2.chainId }, ctx);
  assert.equal(created.mounted, false);
  assert.equal(created.mountPath, join(env.storageDir, 'rootfs', id, 'merged'));
  const m = await env.svc.mountRootfs({ containerId: id }, ctx);
  assert.equal(m.mounted, true);
  assert.deepEqual(await env.svc.mountRootfs({ containerId: id }, ctx), m, 'mount is idempotent');
  assert.equal(mountsUnder(m.mountPath).length, 1, 'mounted exactly once');
  const mp = m.mountPath;
  assert.deepEqual(readdirSync(join(mp, 'etc')).sort(), ['added', 'keep']);
  assert.deepEqual(readdirSync(join(mp, 'opq')).sort(), ['fresh']);
  assert.ok(!existsSync(join(mp, 'dir-deleted')));
  assert.equal(readFileSync(join(mp, 'etc/keep'), 'utf8'), 'keep');
  // Writes go to the upper dir, not into the layers.
  writeFileSync(join(mp, 'etc/keep'), 'changed');
  assert.equal(readFileSync(join(env.storageDir, 'rootfs', id, 'upper', 'etc/keep'), 'utf8'), 'changed');
  assert.equal(readFileSync(join(env.storageDir, 'layers', l1.chainId.slice(7), 'etc/keep'), 'utf8'), 'keep');

  await assert.rejects(env.svc.deleteLayer({ chainId: l2.chainId }, ctx), (e: unknown) => E.LayerInUse.is(e) && (e as Error).message.includes(id));
  const u = await env.svc.unmountRootfs({ containerId: id }, ctx);
  assert.equal(u.mounted, false);
  assert.equal(mountsUnder(mp).length, 0);
  assert.equal((await env.svc.unmountRootfs({ containerId: id }, ctx)).mounted, false, 'unmount is idempotent');
  await env.svc.mountRootfs({ containerId: id }, ctx);
  assert.equal(readFileSync(join(mp, 'etc/keep'), 'utf8'), 'changed', 'the upper dir persists across mounts');
  await env.svc.removeRootfs({ containerId: id }, ctx);
  assert.equal(mountsUnder(env.dir).length, 0);
  assert.ok(!existsSync(join(env.storageDir, 'rootfs', id)));
  await assert.rejects(env.svc.removeRootfs({ containerId: id }, ctx), (e: unknown) => E.RootfsNotFound.is(e));
  await env.svc.deleteLayer({ chainId: l2.chainId }, ctx);
  await env.svc.deleteLayer({ chainId: l1.chainId }, ctx);
});

test('rootfs: empty rootfs, bad ids, duplicates, missing layers, busy unmount', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const id = cid('b');
  await assert.rejects(env.svc.createRootfs({ containerId: '../x', chainId: '' }, ctx), (e: unknown) => E.InvalidArgument.is(e));
  await assert.rejects(env.svc.createRootfs({ containerId: 'B'.repeat(64), chainId: '' }, ctx), (e: unknown) => E.InvalidArgument.is(e));
  await assert.rejects(env.svc.createRootfs({ containerId: id, chainId: 'sha256:' + '1'.repeat(64) }, ctx), (e: unknown) => E.LayerNotFound.is(e));
  await assert.rejects(env.svc.mountRootfs({ containerId: id }, ctx), (e: unknown) => E.RootfsNotFound.is(e));
  await assert.rejects(env.svc.getRootfs({ containerId: id }, ctx), (e: unknown) => E.RootfsNotFound.is(e));
  assert.deepEqual(readdirSync(join(env.storageDir, 'rootfs')), []);

  await env.svc.createRootfs({ containerId: id }, ctx);
  await assert.rejects(env.svc.createRootfs({ containerId: id }, ctx), (e: unknown) => E.RootfsExists.is(e));
  const m = await env.svc.mountRootfs({ containerId: id }, ctx);
  assert.deepEqual(readdirSync(m.mountPath), []);
  writeFileSync(join(m.mountPath, 'hello'), 'x');
  assert.deepEqual(readdirSync(join(env.storageDir, 'empty')), [], 'the shared empty lower dir stays empty');
  assert.deepEqual(await env.svc.getRootfs({ containerId: id }, ctx), { containerId: id, chainId: '', mountPath: m.mountPath, mounted: true, sizeRw: 0 });
  // A busy mount (an open directory handle inside) is still unmounted (lazy detach fallback).
  const { opendirSync } = await import('node:fs');
  const { spawn } = await import('node:child_process');
  const holder = spawn('sleep', ['300'], { cwd: m.mountPath, stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  const d = opendirSync(m.mountPath);
  await env.svc.removeRootfs({ containerId: id }, ctx);
  d.closeSync();
  holder.kill('SIGKILL');
  assert.equal(mountsUnder(env.dir).length, 0);
  assert.deepEqual((await env.svc.listRootfs({}, ctx)).rootfs, []);
});

test('rootfs: an image of 130 layers mounts (short layer links keep options under a page)', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  let parent: TestLayer | undefined;
  for (let i = 0; i < 130; i++) {
    const l: TestLayer = await writeLayer(env.dir, [{ name: `f${i}`, content: String(i) }], { parent, gzip: false });
    await env.svc.applyLayer(l, ctx);
    parent = l;
  }
  const id = cid('c');
  await env.svc.createRootfs({ containerId: id, chainId: parent!.chainId }, ctx);
  const m = await env.svc.mountRootfs({ containerId: id }, ctx);
  assert.equal(readdirSync(m.mountPath).length, 130);
  assert.equal(readFileSync(join(m.mountPath, 'f0'), 'utf8'), '0');
  assert.equal(readFileSync(join(m.mountPath, 'f129'), 'utf8'), '129');
  await env.svc.removeRootfs({ containerId: id }, ctx);
  assert.ok(lstatSync(join(env.storageDir, 'rootfs')).isDirectory());
});

test('rootfs: a busybox layer mounted as a rootfs runs a command (chroot)', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const { execFileSync } = await import('node:child_process');
  const l = await writeLayer(env.dir, [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', content: readFileSync('/bin/busybox'), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' },
    { name: 'bin/cat', type: 'link', linkname: 'bin/busybox' },
    { name: 'etc/motd', content: 'from the layer\n' },
  ]);
  await env.svc.applyLayer(l, ctx);
  const id = cid('d');
  await env.svc.createRootfs({ containerId: id, chainId: l.chainId }, ctx);
  const m = await env.svc.mountRootfs({ containerId: id }, ctx);
  const out = execFileSync('chroot', [m.mountPath, '/bin/sh', '-c', 'cat /etc/motd; echo written > /etc/new'], { encoding: 'utf8' });
  assert.equal(out, 'from the layer\n');
  assert.equal(readFileSync(join(env.storageDir, 'rootfs', id, 'upper', 'etc', 'new'), 'utf8'), 'written\n');
  await env.svc.removeRootfs({ containerId: id }, ctx);
});
