import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCountingProxy, startRedis, type CountingProxy, type TestRedis } from '../../libs/queue/src/split-harness';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { REPO, startDaemon, type Daemon } from '../harness/daemon';

/**
 * Split mode with Redis: a pull outlives the congad that asked for it. congad is killed with
 * SIGKILL mid-pull (the registry is behind a throttling, counting proxy); the image-service
 * worker finishes the job meanwhile; a new `conga pull` of the same image after congad is back
 * completes, and the proxy saw each blob fetched exactly once.
 */

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('split mode: pulls survive a congad restart', () => {
  let dir: string;
  let redis: TestRedis;
  let reg: TestRegistry;
  let proxy: CountingProxy;
  let d: Daemon;
  let ref: string;
  let layers: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'conga-rp-'));
    redis = await startRedis(dir);
    reg = await startRegistry();
    // Incompressible data so that the throttled download takes a few seconds.
    const img = await buildBusyboxImage({ extraLayers: [{ '/data/a': randomBytes(384 << 10) }, { '/data/b': randomBytes(384 << 10) }] });
    layers = [img.configDigest, ...img.layers.map((l) => l.digest)];
    const pushed = await pushImage(reg.host, 'restart/pull', 'latest', img);
    proxy = await startCountingProxy(reg.host, 256 << 10);
    ref = pushed.reference.replace(reg.host, proxy.host);
    d = await startDaemon({ mode: 'split', config: { redis: redis.socket } });
  });
  after(async () => {
    await d?.stop();
    await proxy?.close();
    await reg?.stop();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('kill -9 congad mid-pull; after restart the same pull completes with every blob fetched once', async () => {
    // The first client: a CLI pull that loses its daemon halfway.
    const first = spawn(process.execPath, [join(REPO, 'bin', 'conga'), '-H', `unix://${d.socket}`, 'pull', ref], { stdio: 'ignore' });
    const firstDone = new Promise<number | null>((r) => first.once('exit', (code) => r(code)));
    await until('a layer download in progress', () => [...proxy.blobs.values()].some((c) => c.started > 0 && c.completed === 0));
    await d.killEngine();
    assert.notEqual(await firstDone, 0, 'the client of the killed daemon cannot report success');
    const completedAtKill = [...proxy.blobs.values()].reduce((n, c) => n + c.completed, 0);
    assert.ok(completedAtKill < layers.length, 'congad was killed before the pull finished');

    await d.startEngine();
    const again = await d.cli(['pull', ref], { timeoutMs: 90_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Digest: sha256:[a-f0-9]{64}/);
    const images = await d.cli(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.ok(images.stdout.split('\n').includes(ref), images.stdout);
    for (const digest of layers) {
      const c = proxy.blobs.get(digest);
      assert.ok(c, `${digest} fetched`);
      assert.equal(c.completed, 1, `${digest} fetched exactly once: ${JSON.stringify(c)}`);
      assert.equal(c.started, 1, `${digest} requested exactly once: ${JSON.stringify(c)}`);
    }
    // The queue as congad's metrics show it: the image-service worker is connected.
    const metrics = (await d.api('GET', '/metrics')).body as string;
    assert.match(metrics, /^conga_pull_queue_workers\{process="congad"\} [1-9]\d*$/m);
    assert.match(metrics, /^conga_pull_queue_jobs\{state="active",process="congad"\} 0$/m);
    const run = await d.cli(['run', '--rm', ref, 'ls', '/data']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'a\nb\n');
  });
});
