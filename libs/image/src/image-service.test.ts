import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, newContext, parseConfig, silentLogger, type Progress } from '@conga/common';
import type { ApplyLayerRequest, StorageService } from '@conga/api';
import { createStorageService } from '@conga/storage';
import { imageProxy, serveUnix } from '@conga/rpc';
import { startRegistry, type TestRegistry } from '../../../test/harness/registry';
import { buildBusyboxImage, pushImage } from '../../../test/harness/busybox-image';
import { createImageService, type LocalImageService } from './image-service';
import { conformance } from './testsuite';

const log = silentLogger();

async function makeLocal(config = parseConfig({})) {
  const root = await mkdtemp(join(tmpdir(), 'conga-image-'));
  const storage = await createStorageService({ dir: join(root, 'storage'), log });
  const applied: ApplyLayerRequest[] = [];
  // Real storage, with applyLayer calls recorded.
  const recording: StorageService = Object.assign(Object.create(storage) as StorageService, {
    applyLayer: (req: ApplyLayerRequest, ctx: Parameters<StorageService['applyLayer']>[1]) => {
      applied.push(req);
      return storage.applyLayer(req, ctx);
    },
  });
  const svc = await createImageService({ dir: join(root, 'image'), storage: recording, config, log });
  return {
    svc,
    storage,
    applied,
    root,
    async cleanup() {
      await svc.close();
      await storage.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

conformance('local', async () => {
  const l = await makeLocal();
  return { svc: l.svc, cleanup: l.cleanup };
});

conformance('grpc', async () => {
  const l = await makeLocal();
  const sockDir = await mkdtemp(join(tmpdir(), 'conga-image-sock-'));
  const sock = join(sockDir, 'image.sock');
  const server = await serveUnix(sock, { image: l.svc }, log);
  const proxy = imageProxy(sock);
  return {
    svc: proxy,
    async cleanup() {
      proxy.close();
      await server.close();
      await l.cleanup();
      await rm(sockDir, { recursive: true, force: true });
    },
  };
});

/** An http proxy in front of the registry that counts blob GETs and can corrupt one blob. */
async function startProxy(reg: TestRegistry, corrupt?: string): Promise<{ host: string; blobGets: string[]; close(): Promise<void> }> {
  const blobGets: string[] = [];
  const [rhost, rport] = reg.host.split(':');
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
    if (m && req.method === 'GET') blobGets.push(m[1]);
    const up = request({ host: rhost, port: Number(rport), method: req.method, path: url, headers: req.headers }, (ures) => {
      if (m && m[1] === corrupt && ures.statusCode === 200) {
        const chunks: Buffer[] = [];
        ures.on('data', (c: Buffer) => chunks.push(c));
        ures.on('end', () => {
          const body = Buffer.concat(chunks);
          body[body.length >> 1] ^= 0xff;
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
          res.end(body);
        });
        return;
      }
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => {
      res.statusCode = 502;
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return {
    host: `127.0.0.1:${addr.port}`,
    blobGets,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function blobFiles(svc: LocalImageService): string[] {
  const d = join(svc.contentDir, 'blobs', 'sha256');
  return existsSync(d) ? readdirSync(d) : [];
}

test('local: layers applied in order with parents, blobs stored, second pull downloads nothing', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const proxy = await startProxy(reg);
  t.after(() => proxy.close());
  const l = await makeLocal(parseConfig({ 'max-concurrent-downloads': 2 }));
  t.after(() => l.cleanup());
  const built = await buildBusyboxImage({ extraLayers: [{ 'a/1': '1' }, { 'b/2': '2' }, { '.wh.a': '' }] });
  await pushImage(reg.host, 'local/busybox', 'latest', built);
  const ctx = newContext();
  const ref = `${proxy.host}/local/busybox`;
  const img = await l.svc.pullImage({ reference: ref }, ctx);
  assert.deepEqual(
    l.applied.map((a) => [a.chainId, a.parentChainId, a.diffId]),
    built.chainIds.map((c, i) => [c, i === 0 ? '' : built.chainIds[i - 1], built.diffIds[i]]),
  );
  for (const a of l.applied) assert.equal(a.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  const layers = await Promise.all(built.chainIds.map((c) => l.storage.getLayer({ chainId: c }, ctx)));
  assert.equal(img.size, layers.reduce((s, x) => s + Number(x.size), 0));
  const files = blobFiles(l.svc);
  for (const dg of [built.configDigest, built.manifestDigest, ...built.layers.map((x) => x.digest)]) {
    assert.ok(files.includes(dg.slice(7)), `blob ${dg} missing`);
  }
  assert.deepEqual(readdirSync(join(l.svc.contentDir, 'ingest'), { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => e.name), []);
  assert.equal(new Set(proxy.blobGets).size, proxy.blobGets.length, 'a blob was downloaded twice');
  const gets = proxy.blobGets.length;
  assert.equal(gets, built.layers.length + 1);
  l.applied.length = 0;
  const again = await l.svc.pullImage({ reference: ref }, ctx);
  assert.equal(again.id, img.id);
  assert.equal(proxy.blobGets.length, gets, 'second pull downloaded blobs');
  assert.equal(l.applied.length, 0, 'second pull applied layers');

  // A different image sharing the base layer: base reported as already there.
  const other = await buildBusyboxImage({ cmd: ['true'] });
  await pushImage(reg.host, 'local/other', 'latest', other);
  const events: Progress[] = [];
  await l.svc.pullImage({ reference: `${proxy.host}/local/other` }, newContext(undefined, { onProgress: (p) => events.push(p) }));
  assert.ok(events.some((e) => e.id === other.layers[0].digest.slice(7, 19) && e.status === 'Already exists'));
  // Deleting the first image keeps the shared base layer for the second one.
  const del = await l.svc.deleteImage({ reference: ref }, ctx);
  assert.equal(del.deleted[0], img.id);
  assert.ok(!del.deleted.includes(built.chainIds[0]), 'shared base layer deleted');
  await l.storage.getLayer({ chainId: built.chainIds[0] }, ctx);
  await assert.rejects(l.storage.getLayer({ chainId: built.chainIds[3] }, ctx), (e) => E.LayerNotFound.is(e));
  assert.ok(blobFiles(l.svc).includes(built.layers[0].digest.slice(7)), 'shared blob removed');
  assert.ok(!blobFiles(l.svc).includes(built.layers[3].digest.slice(7)), 'unshared blob kept');
});

test('local: concurrent identical pulls share one download and one apply per layer', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const proxy = await startProxy(reg);
  t.after(() => proxy.close());
  const l = await makeLocal();
  t.after(() => l.cleanup());
  const built = await buildBusyboxImage({ extraLayers: [{ x: 'x' }] });
  await pushImage(reg.host, 'local/conc', 'v', built);
  const ref = `${proxy.host}/local/conc:v`;
  const progress: Progress[][] = [[], [], [], []];
  const imgs = await Promise.all(progress.map((ev) => l.svc.pullImage({ reference: ref }, newContext(undefined, { onProgress: (p) => ev.push(p) }))));
  for (const i of imgs) assert.equal(i.id, built.configDigest);
  assert.equal(proxy.blobGets.length, built.layers.length + 1);
  assert.equal(l.applied.length, built.layers.length);
  for (const ev of progress) assert.ok(ev.some((e) => e.status.startsWith('Status: ')), 'a caller got no final status');
});

test('local: digest mismatch of a tampered blob fails and leaves nothing behind', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const built = await buildBusyboxImage({ extraLayers: [{ tampered: 'yes' }] });
  const bad = built.layers[1].digest;
  const proxy = await startProxy(reg, bad);
  t.after(() => proxy.close());
  const l = await makeLocal();
  t.after(() => l.cleanup());
  await pushImage(reg.host, 'local/tampered', 'v', built);
  const ctx = newContext();
  const ref = `${proxy.host}/local/tampered:v`;
  await assert.rejects(l.svc.pullImage({ reference: ref }, ctx), (e) => {
    assert.ok(E.DigestMismatch.is(e), String(e));
    assert.match((e as Error).message, new RegExp(`expected ${bad}`));
    return true;
  });
  assert.deepEqual((await l.svc.listImages({}, ctx)).images, []);
  await assert.rejects(l.svc.getImage({ reference: ref }, ctx), (e) => E.ImageNotFound.is(e));
  assert.deepEqual(readdirSync(join(l.svc.contentDir, 'ingest'), { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => e.name), []);
  const files = blobFiles(l.svc);
  assert.ok(!files.includes(bad.slice(7)), 'tampered blob kept');
  assert.deepEqual(files, [], `blobs left after a failed pull: ${files}`);
  // The same image through the registry directly works afterwards.
  const ok = await l.svc.pullImage({ reference: `${reg.host}/local/tampered:v` }, ctx);
  assert.equal(ok.id, built.configDigest);
});

test('local: state survives a restart of the service', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const root = await mkdtemp(join(tmpdir(), 'conga-image-restart-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const built = await buildBusyboxImage();
  await pushImage(reg.host, 'local/restart', 'v', built);
  const storage = await createStorageService({ dir: join(root, 'storage'), log });
  t.after(() => storage.close());
  const config = parseConfig({});
  const s1 = await createImageService({ dir: join(root, 'image'), storage, config, log });
  const img = await s1.pullImage({ reference: `${reg.host}/local/restart:v` }, newContext());
  await s1.close();
  await s1.close();
  const s2 = await createImageService({ dir: join(root, 'image'), storage, config, log });
  t.after(() => s2.close());
  assert.deepEqual(await s2.getImage({ reference: `${reg.host}/local/restart:v` }, newContext()), img);
});

test('local: Bearer token flow and a manifest list (index) pull pick linux/amd64', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const built = await buildBusyboxImage({ extraLayers: [{ idx: 'idx' }] });
  await pushImage(reg.host, 'local/multi', 'single', built);
  const armish = await buildBusyboxImage({ cmd: ['arm'] });
  await pushImage(reg.host, 'local/multi', 'armish', armish);
  // A docker manifest list with an arm64 entry (not pushed) and our amd64 manifest.
  const list = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [
        { mediaType: armish.manifestMediaType, size: armish.manifest.length, digest: armish.manifestDigest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: built.manifestMediaType, size: built.manifest.length, digest: built.manifestDigest, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    }),
  );
  const [rh, rp] = reg.host.split(':');
  const putStatus = await new Promise<number>((resolve, reject) => {
    const req = request(
      { host: rh, port: Number(rp), method: 'PUT', path: '/v2/local/multi/manifests/list', headers: { 'content-type': 'application/vnd.docker.distribution.manifest.list.v2+json', 'content-length': list.length } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(list);
  });
  assert.equal(putStatus, 201);

  // Token-protected front: 401 + Bearer challenge unless the token is presented.
  const tokenRequests: string[] = [];
  const front = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/token')) {
      tokenRequests.push(url);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: 'let-me-in' }));
      return;
    }
    if (req.headers.authorization !== 'Bearer let-me-in') {
      const port = (front.address() as { port: number }).port;
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="test-registry",scope="repository:local/multi:pull"` });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const up = request({ host: rh, port: Number(rp), method: req.method, path: url, headers: { ...req.headers, authorization: '' } }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        front.closeAllConnections();
        front.close(() => r());
      }),
  );
  const host = `127.0.0.1:${(front.address() as { port: number }).port}`;
  const l = await makeLocal();
  t.after(() => l.cleanup());
  const img = await l.svc.pullImage({ reference: `${host}/local/multi:list` }, newContext());
  assert.equal(img.id, built.configDigest);
  assert.equal(img.manifestDigest.length, 71);
  assert.notEqual(img.manifestDigest, built.manifestDigest, 'repo digest should be the list digest');
  assert.ok(tokenRequests.length >= 1);
  assert.match(tokenRequests[0], /service=test-registry/);
  assert.match(tokenRequests[0], /scope=repository%3Alocal%2Fmulti%3Apull/);
  const arm = await l.svc.pullImage({ reference: `${host}/local/multi:list`, platform: { os: 'linux', architecture: 'arm64' } }, newContext());
  assert.equal(arm.id, armish.configDigest);
  await assert.rejects(
    l.svc.pullImage({ reference: `${host}/local/multi:list`, platform: { os: 'linux', architecture: 's390x' } }, newContext()),
    (e) => E.NoMatchingPlatform.is(e),
  );
});
