import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { newContext } from '@conga/common';
import { storageProxy } from '@conga/rpc';
import { startRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon } from '../harness/daemon';

/**
 * A start cut short between mounting the rootfs and runc (congad killed there) must not leave
 * the overlay mounted under a container that is not running: the engine's restart unmounts it.
 * Found by the soak (`npm run soak`): "mount … belongs to no running container: leaked".
 * Split mode, so the test can mount the rootfs through the storage service as start would.
 */
test('a rootfs left mounted by an interrupted start is unmounted when congad comes back', { timeout: 180_000 }, async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = (await pushImage(reg.host, 'interrupted/busybox', 'latest', await buildBusyboxImage())).reference;
  const d = await startDaemon({ mode: 'split' });
  t.after(() => d.stop());
  const created = await d.cli(['create', '--name', 'half', ref, 'sleep', '300'], { timeoutMs: 120_000 });
  assert.equal(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  const merged = () => readFileSync('/proc/self/mountinfo', 'utf8').includes(`/rootfs/${id}/merged`);

  await d.killEngine();
  const storage = storageProxy(`unix://${d.run}/services/storage.sock`);
  t.after(() => storage.close());
  await storage.mountRootfs({ containerId: id }, newContext());
  assert.ok(merged(), 'the test could not set up the half-started state');
  await d.startEngine();
  for (const end = Date.now() + 60_000; merged();) {
    assert.ok(Date.now() < end, 'the rootfs of a container that is not running is still mounted after the restart');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal((await d.api('GET', `/containers/${id}/json`)).body.State.Status, 'created');
  const started = await d.cli(['start', 'half']);
  assert.equal(started.code, 0, started.stderr);
  assert.equal((await d.api('GET', `/containers/${id}/json`)).body.State.Running, true);
  assert.equal((await d.cli(['rm', '-f', 'half'])).code, 0);
  assert.equal(merged(), false);
});
