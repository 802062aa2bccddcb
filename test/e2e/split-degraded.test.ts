import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/**
 * Split mode with one service down: congad keeps doing everything that does not need the
 * network service, names the service (and where it was expected) for what does, and recovers
 * once the service is back, without being restarted.
 */

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('split mode, network service down', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'split' });
  });
  after(async () => {
    // Bring the service back (if a test failed with it down) so the containers can be removed cleanly.
    if (d && (await d.api('GET', '/info')).body?.Conga?.Services?.some((s: { Name: string; Health: string }) => s.Name === 'network-service' && s.Health !== 'SERVING')) {
      await d.startService('network').catch(() => undefined);
    }
    await d?.stop();
    await reg?.stop();
  });

  test('ps/images/logs/inspect/stop work, /info shows UNREACHABLE, run fails naming the service; back again, run works', async () => {
    const pull = await d.cli(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    const up = await d.cli(['run', '-d', '--name', 'up', ref, 'sh', '-c', 'echo started; exec sleep 300']);
    assert.equal(up.code, 0, up.stderr);
    await until('log line', async () => (await d.cli(['logs', 'up'])).stdout === 'started\n');

    await d.killService('network');

    const info = await d.api('GET', '/info');
    assert.equal(info.status, 200);
    const health = Object.fromEntries(info.body.Conga.Services.map((s: { Name: string; Health: string }) => [s.Name, s.Health]));
    assert.deepEqual(health, { 'image-service': 'SERVING', 'storage-service': 'SERVING', 'network-service': 'UNREACHABLE', 'executor-service': 'SERVING' });
    const metrics = await d.api('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^conga_service_up\{service="network",process="congad"\} 0$/m);
    assert.match(metrics.body, /^conga_service_up\{service="executor",process="congad"\} 1$/m);

    const ps = await d.cli(['ps']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /Up .* up\n/);
    const images = await d.cli(['images']);
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, new RegExp(`${reg.host}/busybox\\s+latest`));
    const logs = await d.cli(['logs', 'up']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'started\n');
    const inspect = await d.cli(['inspect', '--format', '{{.State.Status}}', 'up']);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(inspect.stdout.trim(), 'running');

    const run = await d.cli(['run', '--name', 'needs-net', ref, 'echo', 'hi']);
    assert.equal(run.code, 125, `${run.stdout}\n${run.stderr}`);
    assert.match(
      run.stderr,
      /the network service is unavailable: cannot connect to unix:\/\/\S+\/services\/network\.sock \(ECONNREFUSED\); is conga-network-service running\?/,
    );
    // stop needs only the executor (the network detach is finished later, when it is back).
    const stop = await d.cli(['stop', '-t', '1', 'up']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match((await d.cli(['ps', '-a'])).stdout, /Exited \(\d+\).* up\n/);

    await d.startService('network');
    const again = await d.cli(['run', '--rm', ref, 'echo', 'back']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'back\n');
    await until('network-service SERVING in /info', async () =>
      (await d.api('GET', '/info')).body.Conga.Services.some((s: { Name: string; Health: string }) => s.Name === 'network-service' && s.Health === 'SERVING'),
    );
    for (const name of ['needs-net', 'up']) {
      const rm = await d.cli(['rm', '-f', name]);
      assert.equal(rm.code, 0, rm.stderr);
    }
  });
});
