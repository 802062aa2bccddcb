import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../../libs/queue/src/split-harness';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { startRegistryProxy, type RegistryProxy } from '../harness/registry-proxy';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';
import { criClient, type CriClient } from '../harness/cri-client';

/**
 * Split mode with Redis: CRI PullImage without credentials goes through the same pull queue as
 * the Engine API (a `conga pull` of the same image started meanwhile joins the job: every blob
 * is fetched once, and Redis saw the job); a PullImage WITH credentials bypasses the queue, so
 * nothing of it (not the reference, not the password) is ever sent to Redis. Redis traffic is
 * observed with `redis-cli monitor`.
 */

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Every command Redis executes, as `redis-cli monitor` prints it. */
function monitor(socket: string): { proc: ChildProcess; text: () => string; clear(): void } {
  let out = '';
  const proc = spawn('redis-cli', ['-s', socket, 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  return { proc, text: () => out, clear: () => (out = '') };
}

const USER = 'cri-user';
const PASSWORD = `s3cret-${randomBytes(6).toString('hex')}`;

describe('split mode: CRI PullImage and the pull queue', () => {
  let dir: string;
  let redis: TestRedis;
  let reg: TestRegistry;
  let proxy: RegistryProxy;
  let d: Daemon;
  let cri: CriClient;
  let mon: ReturnType<typeof monitor>;
  let ref: string;
  let repo: string;
  /** The same image under a second name: no token cached for it, so the credentials are sent. */
  let privateRef: string;
  let blobs: string[];

  const blobGets = (digest: string) => proxy.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${digest}`)).length;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'conga-cq-'));
    redis = await startRedis(dir);
    reg = await startRegistry();
    const img = await buildBusyboxImage({ extraLayers: [{ '/data/a': randomBytes(256 << 10) }, { '/data/b': randomBytes(256 << 10) }] });
    blobs = [img.configDigest, ...img.layers.map((l) => l.digest)];
    const pushed = await pushImage(reg.host, 'cri/queued', 'latest', img);
    // Token auth in front (anonymous pulls allowed), blobs trickled so the two pulls overlap.
    proxy = await startRegistryProxy(reg.host, {
      bearer: { username: USER, password: PASSWORD, allowAnonymousPull: true },
      rule: (req) => (req.method === 'GET' && req.url?.includes('/blobs/') ? { trickle: { bytes: 64 << 10, everyMs: 100 } } : undefined),
    });
    ref = pushed.reference.replace(reg.host, proxy.host);
    privateRef = (await pushImage(reg.host, 'cri/private', 'latest', img)).reference.replace(reg.host, proxy.host);
    repo = ref.replace(/:latest$/, '');
    d = await startDaemon({ mode: 'split', config: { redis: redis.socket } });
    const sock = join(d.run, 'cri.sock');
    await until('the CRI socket', () => existsSync(sock));
    cri = criClient(sock);
    mon = monitor(redis.socket);
    await until('redis-cli monitor', () => mon.text().includes('OK'), 10_000);
  });
  after(async () => {
    mon?.proc.kill('SIGTERM');
    cri?.close();
    await d?.stop();
    await proxy?.close();
    await reg?.stop();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('an anonymous CRI pull is a queue job that a concurrent `conga pull` joins; each blob is fetched once', async () => {
    const criPull = cri.image.pullImage({ image: { image: ref } });
    await until('a blob download in progress', () => blobs.some((b) => blobGets(b) > 0));
    // Before anyone else asks: the CRI pull alone put the job in Redis (bullmq keeps its data there).
    await until('the CRI pull enqueued in Redis', () => mon.text().includes(repo), 10_000);
    const cliPull = d.cli(['pull', ref], { timeoutMs: 90_000 });
    const [{ imageRef }, cli] = await Promise.all([criPull, cliPull]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
    for (const b of blobs) assert.equal(blobGets(b), 1, `${b} fetched exactly once`);
    const st = await cri.image.imageStatus({ image: { image: ref } });
    assert.equal(st.image.id, imageRef);
    await cri.image.removeImage({ image: { image: ref } });
    assert.equal((await cri.image.imageStatus({ image: { image: ref } })).image, null);
  });

  test('a CRI pull with credentials bypasses the queue: Redis never sees it', async () => {
    mon.clear();
    const tokensBefore = proxy.tokenRequests.length;
    const { imageRef } = await cri.image.pullImage({ image: { image: privateRef }, auth: { username: USER, password: PASSWORD } });
    assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
    const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    assert.ok(proxy.tokenRequests.slice(tokensBefore).some((t) => t.authorization === basic), `the credentials were used for the pull: ${JSON.stringify(proxy.tokenRequests.slice(tokensBefore))}`);
    // Give a stray enqueue the time to show in the monitor stream, then check nothing leaked.
    await d.cli(['version']);
    const seen = mon.text();
    assert.ok(!seen.includes(PASSWORD) && !seen.includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64')), 'the password never reached Redis');
    assert.ok(!seen.includes('cri/private'), `the pull was not enqueued: ${seen.slice(0, 500)}`);
    await cri.image.removeImage({ image: { image: privateRef } });
  });
});
