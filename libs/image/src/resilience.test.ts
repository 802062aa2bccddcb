import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { newContext } from '@conga/common';
import { startRegistry } from '../../../test/harness/registry';
import { startRegistryProxy } from '../../../test/harness/registry-proxy';
import { buildBusyboxImage, buildTar, pushImage, type BuiltImage } from '../../../test/harness/busybox-image';
import { collecting, imageEnv } from './test-env';
import { retryAfterMs } from './registry-client';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('retryAfterMs: seconds and HTTP dates', () => {
  assert.equal(retryAfterMs('3'), 3000);
  assert.equal(retryAfterMs(new Date(Date.now() + 5000).toUTCString())! > 3000, true);
  assert.equal(retryAfterMs('soon'), undefined);
  assert.equal(retryAfterMs(undefined), undefined);
});

test('429 with Retry-After and 503 are retried; a dropped blob download resumes with Range', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const img = await buildBusyboxImage({ extraLayers: [{ 'etc/resume': 'x' }] });
  await pushImage(reg.host, 'res/bb', 'v1', img);
  const big = img.layers[0];
  const proxy = await startRegistryProxy(reg.host, {
    rule: (req, n) => {
      if (/\/manifests\//.test(req.url ?? '') && n === 1) return { respond: 429, headers: { 'Retry-After': '0' } };
      if (/\/manifests\//.test(req.url ?? '') && n === 2) return { respond: 503 };
      if (req.url?.endsWith(big.digest) && n === 1) return { cutAfter: Math.floor(big.size / 3) };
      return undefined;
    },
  });
  t.after(() => proxy.close());
  const env = await imageEnv();
  t.after(() => env.cleanup());
  const img2 = await env.svc.pullImage({ reference: `${proxy.host}/res/bb:v1` }, newContext());
  assert.equal(img2.id, img.configDigest);
  const gets = proxy.requests.filter((r) => r.url.endsWith(big.digest));
  assert.equal(gets.length, 2, JSON.stringify(gets));
  const from = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
  assert.ok(from > 0 && from <= Math.floor(big.size / 3), `resumed from ${gets[1].range}`);
});

test('registry-mirrors: Docker Hub images come from the mirror, without the hub credentials', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const img = await buildBusyboxImage({ extraLayers: [{ 'etc/mirror': 'x' }] });
  await pushImage(reg.host, 'library/mirrored', 'latest', img);
  const dead = await startRegistryProxy(reg.host, { rule: () => ({ respond: 500 }) });
  t.after(() => dead.close());
  const mirror = await startRegistryProxy(reg.host);
  t.after(() => mirror.close());
  const env = await imageEnv({ 'registry-mirrors': [`http://${dead.host}`, `http://${mirror.host}/`] });
  t.after(() => env.cleanup());
  const got = await env.svc.pullImage({ reference: 'mirrored' }, newContext());
  assert.equal(got.id, img.configDigest);
  assert.deepEqual(got.repoTags, ['mirrored:latest']);
  assert.ok(dead.requests.length > 0, 'the first mirror was tried');
  assert.ok(mirror.requests.every((r) => r.authorization === undefined));
});

test("registry-mirrors per registry: a host's own mirror serves it; a dead mirror falls back to the registry", async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const img = await buildBusyboxImage({ extraLayers: [{ 'etc/mirror': 'y' }] });
  await pushImage(reg.host, 'team/app', 'v1', img);
  // The "registry" answers 500 to everything: only its mirror can serve the pull.
  const origin = await startRegistryProxy(reg.host, { rule: () => ({ respond: 500 }) });
  t.after(() => origin.close());
  const mirror = await startRegistryProxy(reg.host);
  t.after(() => mirror.close());
  const viaMirror = await imageEnv({ 'registry-mirrors': { [origin.host]: [`http://${mirror.host}`] }, 'insecure-registries': [origin.host] });
  t.after(() => viaMirror.cleanup());
  assert.equal((await viaMirror.svc.pullImage({ reference: `${origin.host}/team/app:v1` }, newContext())).id, img.configDigest);
  assert.ok(mirror.requests.some((r) => r.url.includes('/team/app/manifests/v1')), 'the mirror served the manifest');
  // Mirrors of other hosts are not used: a dead mirror for this registry falls back to it.
  const dead = await startRegistryProxy(reg.host, { rule: () => ({ respond: 500 }) });
  t.after(() => dead.close());
  const fallback = await imageEnv({ 'registry-mirrors': { [reg.host]: [`http://${dead.host}`], [origin.host]: [`http://${mirror.host}`] } });
  t.after(() => fallback.cleanup());
  const before = mirror.requests.length;
  assert.equal((await fallback.svc.pullImage({ reference: `${reg.host}/team/app:v1` }, newContext())).id, img.configDigest);
  assert.ok(dead.requests.length > 0, 'the dead mirror was tried first');
  assert.equal(mirror.requests.length, before, "another registry's mirror was not used");
});

async function zstdImage(): Promise<BuiltImage | undefined> {
  const base = await buildBusyboxImage();
  const tar = await buildTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/zstd-layer', type: 'file', data: Buffer.from('zstd!\n') }]);
  const r = spawnSync('zstd', ['-q', '-c'], { input: tar });
  if (r.status !== 0) return undefined;
  const blob = r.stdout as Buffer;
  const layer = { digest: sha256(blob), diffId: sha256(tar), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', blob, size: blob.length, tarSize: tar.length };
  const layers = [base.layers[0], layer];
  const cfg = JSON.parse(base.config.toString());
  cfg.rootfs.diff_ids = layers.map((l) => l.diffId);
  cfg.history = layers.map(() => ({ created: cfg.created }));
  const config = Buffer.from(JSON.stringify(cfg));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  return { ...base, layers, config, configDigest: sha256(config), manifest, manifestDigest: sha256(manifest), manifestMediaType: 'application/vnd.oci.image.manifest.v1+json', diffIds: layers.map((l) => l.diffId), chainIds: [] };
}

test('zstd layers pull; push uses chunked upload for large blobs and cross-repo mounts', async (t) => {
  const img = await zstdImage();
  // scripts/setup.sh installs zstd: a machine without it is a broken setup, not a reason to skip.
  assert.ok(img, 'the zstd command is missing: run scripts/setup.sh');
  const reg = await startRegistry();
  t.after(() => reg.stop());
  await pushImage(reg.host, 'z/bb', 'v1', img);
  const proxy = await startRegistryProxy(reg.host);
  t.after(() => proxy.close());
  const env = await imageEnv({}, { pushMonolithicMax: 64 << 10, pushChunkSize: 256 << 10 });
  t.after(() => env.cleanup());
  const ctx = newContext();
  const got = await env.svc.pullImage({ reference: `${proxy.host}/z/bb:v1` }, ctx);
  assert.deepEqual(got.diffIds, img.diffIds);
  // Same registry, other repository: blobs are mounted, not uploaded.
  await env.svc.tagImage({ source: got.id, target: `${proxy.host}/z/copy:v1` }, ctx);
  const { events, ctx: pctx } = collecting();
  await env.svc.pushImage({ reference: `${proxy.host}/z/copy:v1` }, pctx);
  assert.equal(events.filter((e) => e.status === 'Mounted from z/bb').length, img.layers.length, JSON.stringify(events.map((e) => e.status)));
  // Another registry: real uploads, the busybox layer (> 64 KiB) in PATCH chunks.
  const reg2 = await startRegistry();
  t.after(() => reg2.stop());
  const p2 = await startRegistryProxy(reg2.host);
  t.after(() => p2.close());
  await env.svc.tagImage({ source: got.id, target: `${p2.host}/z/up:v1` }, ctx);
  const res = await env.svc.pushImage({ reference: `${p2.host}/z/up:v1` }, ctx);
  assert.equal(res.digest, img.manifestDigest);
  assert.ok(p2.requests.filter((r) => r.method === 'PATCH').length >= 2, 'chunked upload');
  // And it pulls back from there.
  const env2 = await imageEnv();
  t.after(() => env2.cleanup());
  assert.equal((await env2.svc.pullImage({ reference: `${p2.host}/z/up:v1` }, ctx)).id, img.configDigest);
});

test('a failed pull never deletes a blob whose layer stays in storage: a later image sharing it is complete', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const bad = await buildBusyboxImage({ labels: { n: 'fails' }, extraLayers: [{ 'etc/bad': 'x' }] });
  const good = await buildBusyboxImage({ labels: { n: 'good' }, extraLayers: [{ 'etc/good': 'y' }] });
  await pushImage(reg.host, 'gc/bad', 'v1', bad);
  await pushImage(reg.host, 'gc/good', 'v1', good);
  // The bad image's own layer is gone from the registry: its pull fails after the shared layer was applied.
  const proxy = await startRegistryProxy(reg.host, { rule: (req) => (req.url?.endsWith(bad.layers[1].digest) ? { respond: 404 } : undefined) });
  t.after(() => proxy.close());
  const env = await imageEnv({ 'max-concurrent-downloads': 1 });
  t.after(() => env.cleanup());
  await assert.rejects(env.svc.pullImage({ reference: `${proxy.host}/gc/bad:v1` }, newContext()));
  const got = await env.svc.pullImage({ reference: `${proxy.host}/gc/good:v1` }, newContext());
  assert.equal(got.id, good.configDigest);
  const blobs = new Set((await env.blobs()).map((h) => `sha256:${h}`));
  for (const dg of [good.manifestDigest, good.configDigest, ...good.layers.map((l) => l.digest)]) assert.ok(blobs.has(dg), `blob ${dg} of the pulled image is missing`);
  assert.ok(!blobs.has(bad.layers[1].digest) && !blobs.has(bad.configDigest), 'the failed pull left its own blobs behind');
});
