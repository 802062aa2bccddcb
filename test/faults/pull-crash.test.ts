/**
 * Crash mid-pull: SIGKILL congad (all-in-one) or the image service (split) while a pull is half
 * done — one of its layers downloaded and applied, another still trickling in through the proxy.
 * After the restart the startup garbage collection leaves exactly what the recorded images
 * reference (blobs and layers), no staging file, and the image pulls again.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { startRegistryProxy, type RegistryProxy } from '../harness/registry-proxy';
import { buildBusyboxImage, pushImage, type BuiltImage } from '../harness/busybox-image';
import { startDaemon, type Daemon, type Mode } from '../harness/daemon';
import { ImageStore } from '../../libs/image/src/image-store';

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : []);

/** Blobs and layers on disk must be exactly those the recorded images reference. */
function assertMatchesImages(root: string): void {
  const store = new ImageStore(join(root, 'image'));
  try {
    const images = store.list();
    const wantBlobs = new Set(images.flatMap((i) => store.blobsOf(i.id)).map((d) => d.slice(7)));
    const wantLayers = new Set(images.flatMap((i) => i.chainIds).map((c) => c.slice(7)));
    assert.deepEqual(ls(join(root, 'image', 'blobs', 'sha256')).sort(), [...wantBlobs].sort(), 'blobs on disk');
    assert.deepEqual(ls(join(root, 'storage', 'layers')).sort(), [...wantLayers].sort(), 'layers on disk');
    for (const d of ls(join(root, 'image', 'ingest'))) assert.deepEqual(ls(join(root, 'image', 'ingest', d)), [], `staging files in ingest/${d}`);
  } finally {
    store.close();
  }
}

for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`crash mid-pull (${mode})`, () => {
    let reg: TestRegistry;
    let proxy: RegistryProxy;
    let d: Daemon;
    let a: BuiltImage;
    let b: BuiltImage;
    let trickle = true;
    before(async () => {
      reg = await startRegistry();
      a = await buildBusyboxImage({ extraLayers: [{ 'etc/a': 'a' }] });
      // b: the shared base, a small layer that lands quickly, and a big one that trickles.
      b = await buildBusyboxImage({ extraLayers: [{ 'etc/b1': 'b1' }, { 'etc/b2': randomBytes(300_000).toString('base64') }] });
      await pushImage(reg.host, 'crash/a', 'v1', a);
      await pushImage(reg.host, 'crash/b', 'v1', b);
      proxy = await startRegistryProxy(reg.host, {
        rule: (req) => (trickle && req.url?.endsWith(b.layers[2].digest) ? { trickle: { bytes: 2000, everyMs: 100 } } : undefined),
      });
      d = await startDaemon({ mode, config: { 'pull-min-bytes-per-second': 0 } });
    });
    after(async () => {
      await d?.stop();
      await proxy?.close();
      await reg?.stop();
    });

    test('kill -9 mid-pull, restart: blobs and layers match the images exactly; a re-pull works', async () => {
      const pa = await d.cli(['pull', `${proxy.host}/crash/a:v1`]);
      assert.equal(pa.code, 0, pa.stderr);
      const pulling = d.cli(['pull', `${proxy.host}/crash/b:v1`]);
      const b1Layer = join(d.root, 'storage', 'layers', b.chainIds[1].slice(7));
      const b1Blob = join(d.root, 'image', 'blobs', 'sha256', b.layers[1].digest.slice(7));
      await until('the first layer of b applied while the second trickles', () => existsSync(b1Layer) && existsSync(b1Blob) && proxy.requests.some((r) => r.url.endsWith(b.layers[2].digest)));
      if (mode === 'all-in-one') await d.killEngine();
      else await d.killService('image');
      const res = await pulling;
      assert.notEqual(res.code, 0, 'the pull was cut by the kill');
      trickle = false;
      if (mode === 'all-in-one') await d.startEngine();
      else await d.startService('image');
      // The killed service's socket file stays behind: wait until the new one answers. The
      // startup collection runs before it does.
      const end = Date.now() + 30_000;
      while ((await d.api('GET', '/images/json').catch(() => ({ status: 0 }))).status !== 200) {
        assert.ok(Date.now() < end, 'the restarted image service never answered');
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(!existsSync(b1Layer) && !existsSync(b1Blob), 'the half-pulled image left its layer or blob');
      assertMatchesImages(d.root);
      const again = await d.cli(['pull', `${proxy.host}/crash/b:v1`]);
      assert.equal(again.code, 0, again.stderr);
      assertMatchesImages(d.root);
      const run = await d.cli(['run', '--rm', `${proxy.host}/crash/b:v1`, 'cat', '/etc/b1']);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'b1');
    });
  });
}
