import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, newContext, silentLogger, type CallContext, type Progress } from '@conga/common';
import type { ImageService } from '@conga/api';
import { serveUnix, imageProxy, checkHealth } from './index';

// Unit test of the transport with a small in-memory ImageService (pure logic: no real parts needed).
const fakeImages: Pick<ImageService, 'pullImage' | 'getImage' | 'listImages' | 'deleteImage'> = {
  async pullImage(req, ctx) {
    ctx.onProgress?.({ id: 'abc', status: 'Downloading', current: 1, total: 2 });
    ctx.onProgress?.({ id: 'abc', status: 'Pull complete', current: 2, total: 2 });
    if (req.reference === 'missing') throw E.ImageNotFound('missing');
    return { id: 'sha256:' + 'a'.repeat(64), repoTags: [req.reference ?? ''], repoDigests: [], created: '', size: 7, configJson: '{}', diffIds: [], chainIds: [], manifestDigest: '', platform: null };
  },
  async getImage(req) {
    throw E.ImageNotFound(req.reference ?? '');
  },
  async listImages() {
    return { images: [] };
  },
  async deleteImage() {
    throw new Error('boom');
  },
};

test('rpc: a proxy behaves like the implementation it wraps', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-rpc-'));
  const sock = join(dir, 'image.sock');
  const server = await serveUnix(sock, { image: fakeImages }, silentLogger());
  const proxy = imageProxy(sock);
  t.after(async () => {
    proxy.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.equal(statSync(sock).mode & 0o777, 0o660);
  const events: Progress[] = [];
  const ctx: CallContext = { ...newContext(), onProgress: (p) => events.push(p) };
  const img = await proxy.pullImage({ reference: 'busybox' }, ctx);
  assert.equal(img.size, 7);
  assert.deepEqual(img.repoTags, ['busybox']);
  assert.deepEqual(events.map((e) => e.status), ['Downloading', 'Pull complete']);

  await assert.rejects(proxy.pullImage({ reference: 'missing' }, newContext()), (e: any) => E.ImageNotFound.is(e) && e.httpStatus === 404 && /missing/.test(e.message));
  await assert.rejects(proxy.getImage({ reference: 'x' }, newContext()), (e: any) => e.code === 'CONGA_ERR_IMAGE_NOT_FOUND' && e.message === 'No such image: x');
  await assert.rejects(proxy.deleteImage({ reference: 'x' }, newContext()), (e: any) => e.kind === 'Internal' && /boom/.test(e.message));
  assert.deepEqual(await proxy.listImages({}, newContext()), { images: [] });
});

test('rpc: a service that is down fails fast with Unavailable naming it', async () => {
  const proxy = imageProxy(join(tmpdir(), 'conga-no-such-socket.sock'));
  try {
    await assert.rejects(proxy.listImages({}, newContext()), (e: any) => e.code === 'CONGA_ERR_SERVICE_UNAVAILABLE' && /image service/.test(e.message));
  } finally {
    proxy.close();
  }
});

test('rpc: every service process answers the grpc.health.v1 protocol', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-rpc-'));
  const sock = join(dir, 'image.sock');
  const server = await serveUnix(sock, { image: fakeImages }, silentLogger());
  t.after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.equal(await checkHealth('image', sock), 'SERVING');
  assert.equal(await checkHealth('storage', sock), 'SERVICE_UNKNOWN');
  assert.equal(await checkHealth('image', join(dir, 'nothing.sock')), 'UNREACHABLE');
});
