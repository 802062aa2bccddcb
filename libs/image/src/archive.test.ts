import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, truncate, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, newContext } from '@conga/common';
import { startRegistry } from '../../../test/harness/registry';
import { buildBusyboxImage, buildTar, pushImage } from '../../../test/harness/busybox-image';
import { collecting, imageEnv } from './test-env';
import { applyChanges } from './importer';

test('applyChanges: docker --change instructions', () => {
  const c = applyChanges({}, ['CMD ["sh", "-c", "echo hi"]', 'ENTRYPOINT /bin/x', 'ENV A=1 B="two words"', 'EXPOSE 80 53/udp', 'LABEL k=v', 'USER nobody', 'WORKDIR /w', 'VOLUME /data']);
  assert.deepEqual(c.Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', '/bin/x']);
  assert.deepEqual(c.Env, ['A=1', 'B=two words']);
  assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['80/tcp', '53/udp']);
  assert.deepEqual(c.Labels, { k: 'v' });
  assert.equal(c.User, 'nobody');
  assert.equal(c.WorkingDir, '/w');
  assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/data']);
  assert.throws(() => applyChanges({}, ['RUN rm -rf /']), (e) => E.ImportChangeInvalid.is(e));
  assert.throws(() => applyChanges({}, ['EXPOSE eighty']), (e) => E.ImportChangeInvalid.is(e));
});

test('save → load round trip (docker-archive + OCI layout), skopeo reads it; tag, history data, prune', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const img = await buildBusyboxImage({ extraLayers: [{ 'etc/saved': 'yes' }], labels: { team: 'img' } });
  await pushImage(reg.host, 'arch/bb', 'v1', img);
  const a = await imageEnv();
  t.after(() => a.cleanup());
  const tmp = await mkdtemp(join(tmpdir(), 'conga-archive-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const ctx = newContext();
  const ref = `${reg.host}/arch/bb:v1`;
  await a.svc.pullImage({ reference: ref }, ctx);
  await a.svc.tagImage({ source: ref, target: 'mine/bb:latest' }, ctx);
  assert.deepEqual((await a.svc.getImage({ reference: 'mine/bb' }, ctx)).repoTags.sort(), [ref, 'mine/bb:latest'].sort());
  await assert.rejects(a.svc.tagImage({ source: ref, target: 'x@sha256:' + 'a'.repeat(64) }, ctx), (e) => E.InvalidReference.is(e));
  await assert.rejects(a.svc.tagImage({ source: 'nope:1', target: 'x:1' }, ctx), (e) => E.ImageNotFound.is(e));

  const archive = join(tmp, 'bb.tar');
  await a.svc.saveImages({ references: ['mine/bb:latest'], path: archive }, ctx);
  // skopeo (local only) reads both views of the archive.
  for (const [transport, dest] of [['docker-archive', 'd1'], ['oci-archive', 'd2']] as const) {
    const r = spawnSync('skopeo', ['copy', '-q', `${transport}:${archive}`, `dir:${join(tmp, dest)}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, `skopeo ${transport}: ${r.stderr}`);
  }

  // Load into a fresh service.
  const b = await imageEnv();
  t.after(() => b.cleanup());
  const { events, ctx: lctx } = collecting();
  const loaded = await b.svc.loadImages({ path: archive }, lctx);
  assert.deepEqual(loaded.tags, ['mine/bb:latest']);
  assert.deepEqual(loaded.ids, [img.configDigest]);
  assert.ok(events.some((e) => e.status === 'Loaded image: mine/bb:latest'));
  const got = await b.svc.getImage({ reference: 'mine/bb:latest' }, ctx);
  assert.equal(got.id, img.configDigest);
  assert.deepEqual(got.diffIds, img.diffIds);

  // An image skopeo wrote as an OCI archive loads too (its manifest is kept).
  const oci = join(tmp, 'oci.tar');
  const r = spawnSync('skopeo', ['copy', '-q', `dir:${join(tmp, 'd1')}`, `oci-archive:${oci}:other/bb:v9`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const c = await imageEnv();
  t.after(() => c.cleanup());
  const l2 = await c.svc.loadImages({ path: oci }, ctx);
  assert.equal(l2.ids.length, 1);
  assert.deepEqual(l2.tags, ['other/bb:v9']);
  assert.deepEqual((await c.svc.getImage({ reference: l2.ids[0] }, ctx)).diffIds, img.diffIds);

  // Push the loaded image back to a registry and pull it elsewhere.
  await b.svc.tagImage({ source: 'mine/bb:latest', target: `${reg.host}/arch/reloaded:v1` }, ctx);
  const { events: pev, ctx: pctx } = collecting();
  const pushed = await b.svc.pushImage({ reference: `${reg.host}/arch/reloaded:v1` }, pctx);
  assert.match(pushed.digest, /^sha256:/);
  assert.ok(pev.some((e) => e.status === 'Pushed') && pev.some((e) => /^v1: digest: sha256:/.test(e.status)), JSON.stringify(pev.map((e) => e.status)));
  assert.ok((await b.svc.getImage({ reference: `${reg.host}/arch/reloaded@${pushed.digest}` }, ctx)).id === img.configDigest);
  // Pushing again: every layer already exists.
  const { events: again, ctx: actx } = collecting();
  await b.svc.pushImage({ reference: `${reg.host}/arch/reloaded:v1` }, actx);
  assert.ok(again.filter((e) => e.status === 'Layer already exists').length === img.layers.length);

  // prune: dangling only, then -a.
  await b.svc.deleteImage({ reference: 'mine/bb:latest' }, ctx);
  assert.equal((await b.svc.pruneImages({}, ctx)).deleted.length, 0, 'still tagged: not dangling');
  const pr = await b.svc.pruneImages({ all: true, labels: ['team=img'] }, ctx);
  assert.ok(pr.deleted.includes(img.configDigest));
  assert.ok(Number(pr.spaceReclaimed) > 0);
  assert.deepEqual(await b.blobs(), []);
  assert.deepEqual(await b.layers(), []);
});

test('load refuses corrupt and truncated archives and leaves nothing behind', async (t) => {
  const env = await imageEnv();
  t.after(() => env.cleanup());
  const tmp = await mkdtemp(join(tmpdir(), 'conga-archive-bad-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const ctx = newContext();
  const img = await buildBusyboxImage({ extraLayers: [{ 'etc/x': 'y' }] });
  // A docker-archive whose layer does not match the config's diff_ids.
  const layerTars = await Promise.all(img.layers.map(async (_l, i) => buildTar([{ name: `f${i}`, type: 'file', data: Buffer.from(`wrong ${i}`) }])));
  const entries = [
    { name: 'config.json', type: 'file' as const, data: img.config },
    ...layerTars.map((d, i) => ({ name: `l${i}/layer.tar`, type: 'file' as const, data: d })),
    { name: 'manifest.json', type: 'file' as const, data: Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: ['bad:1'], Layers: layerTars.map((_d, i) => `l${i}/layer.tar`) }])) },
  ];
  const bad = join(tmp, 'bad.tar');
  await writeFile(bad, await buildTar(entries));
  await assert.rejects(env.svc.loadImages({ path: bad }, ctx), (e) => E.DigestMismatch.is(e));
  // A name escaping the archive.
  const evil = join(tmp, 'evil.tar');
  await writeFile(evil, await buildTar([{ name: '../../etc/evil', type: 'file', data: Buffer.from('x') }]));
  await assert.rejects(env.svc.loadImages({ path: evil }, ctx), (e) => E.ImageArchiveInvalid.is(e));
  // Truncated archive.
  const saver = await imageEnv();
  t.after(() => saver.cleanup());
  const good = join(tmp, 'good.tar');
  const imp = join(tmp, 'rootfs.tar');
  await writeFile(imp, await buildTar([{ name: 'hello', type: 'file', data: Buffer.alloc(200_000, 7) }]));
  await saver.svc.importImage({ path: imp, reference: 'imp:1', changes: [] }, ctx);
  await saver.svc.saveImages({ references: ['imp:1'], path: good }, ctx);
  await truncate(good, Math.floor((await stat(good)).size / 2));
  await assert.rejects(env.svc.loadImages({ path: good }, ctx), (e) => E.ImageArchiveInvalid.is(e));
  await assert.rejects(env.svc.loadImages({ path: join(tmp, 'missing.tar') }, ctx), (e) => E.ImageArchiveInvalid.is(e));
  assert.deepEqual((await env.svc.listImages({}, ctx)).images, []);
  assert.deepEqual(await env.blobs(), []);
  assert.deepEqual(await env.layers(), []);
  assert.ok(!existsSync(join(tmp, '..', 'etc', 'evil')));
});

test('import: rootfs tar (gzip and zstd) with --change; a non-tar is refused', async (t) => {
  const env = await imageEnv();
  t.after(() => env.cleanup());
  const tmp = await mkdtemp(join(tmpdir(), 'conga-import-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const ctx = newContext();
  const tar = await buildTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/hello', type: 'file', data: Buffer.from('hi\n') }]);
  const plain = join(tmp, 'root.tar');
  await writeFile(plain, tar);
  spawnSync('gzip', ['-k', plain]);
  const img = await env.svc.importImage({ path: `${plain}.gz`, reference: 'imported:v1', changes: ['CMD ["/bin/sh"]', 'ENV A=b'], message: 'from test' }, ctx);
  const cfg = JSON.parse(img.configJson);
  assert.deepEqual(cfg.config.Cmd, ['/bin/sh']);
  assert.deepEqual(cfg.config.Env, ['A=b']);
  assert.equal(cfg.comment, 'from test');
  assert.deepEqual(img.repoTags, ['imported:v1']);
  const zstd = spawnSync('zstd', ['-q', '-k', plain, '-o', `${plain}.zst`]);
  if (zstd.status === 0) {
    const z = await env.svc.importImage({ path: `${plain}.zst`, reference: 'imported:zstd', changes: [] }, ctx);
    assert.deepEqual(z.diffIds, img.diffIds, 'same tar inside: same diff id');
  }
  const notTar = join(tmp, 'junk');
  await writeFile(notTar, Buffer.alloc(3000, 0x41));
  const before = await env.blobs();
  await assert.rejects(env.svc.importImage({ path: notTar, reference: 'junk:1', changes: [] }, ctx));
  await assert.rejects(env.svc.importImage({ path: plain, reference: 'x:1', changes: ['RUN x'] }, ctx), (e) => E.ImportChangeInvalid.is(e));
  assert.deepEqual((await env.blobs()).sort(), before.sort());
});
