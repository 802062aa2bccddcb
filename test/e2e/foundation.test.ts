import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { mountsUnder, runcList, startDaemon, type Daemon, type Mode } from '../harness/daemon';

/**
 * The foundation slice end to end, through the bundled `conga` CLI and a real congad, in both
 * deployments: a busybox image pushed to a real registry (Debian's docker-registry), pulled,
 * unpacked into overlay layers and run by runc under conmon.
 */

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`foundation (${mode})`, () => {
    let reg: TestRegistry;
    let d: Daemon;
    let ref: string;
    const runcRoot = () => join(d.run, 'executor', 'runc');
    const overlays = () => mountsUnder(d.root).filter((m) => m.endsWith('/merged'));

    before(async () => {
      reg = await startRegistry();
      const img = await buildBusyboxImage();
      ref = (await pushImage(reg.host, 'busybox', 'latest', img)).reference;
      d = await startDaemon({ mode });
    });
    after(async () => {
      await d?.stop();
      await reg?.stop();
    });

    test('version, info and pull with progress', async () => {
      const v = await d.cli(['version']);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /1\.41/);
      const info = await d.cli(['info']);
      assert.equal(info.code, 0, info.stderr);
      const pull = await d.cli(['pull', ref]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout, /Pull complete|Download complete/);
      assert.match(pull.stdout, /Digest: sha256:[a-f0-9]{64}/);
      const images = await d.cli(['images']);
      assert.match(images.stdout, new RegExp(`${reg.host}/busybox\\s+latest`));
    });

    test('run --rm prints hello, exits 0 and leaves nothing', async () => {
      const r = await d.cli(['run', '--rm', ref, 'echo', 'hello']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'hello\n');
      const ps = await d.api('GET', '/containers/json?all=1');
      assert.deepEqual(ps.body, []);
      assert.deepEqual(overlays(), []);
      assert.deepEqual(runcList(runcRoot()), []);
    });

    test('run returns the container exit code; stdout and stderr stay apart', async () => {
      const r = await d.cli(['run', '--name', 'exit3', ref, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.equal(r.code, 3);
      assert.equal(r.stdout, 'out\n');
      assert.match(r.stderr, /err/);
      const ps = await d.cli(['ps', '-a']);
      assert.match(ps.stdout, /Exited \(3\).*exit3/);
      assert.equal((await d.cli(['rm', 'exit3'])).code, 0);
      assert.deepEqual(overlays(), []);
    });

    test('detached container: ps, logs, stop, rm', async () => {
      const r = await d.cli(['run', '-d', '--name', 's', ref, 'sh', '-c', 'echo started; exec sleep 300']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.trim(), /^[a-f0-9]{64}$/);
      const ps = await d.cli(['ps']);
      assert.match(ps.stdout, /Up .* s\n/);
      await until('log line', async () => (await d.cli(['logs', 's'])).stdout === 'started\n');
      const stop = await d.cli(['stop', '-t', '2', 's']);
      assert.equal(stop.code, 0, stop.stderr);
      assert.match((await d.cli(['ps', '-a'])).stdout, /Exited \(143\)|Exited \(137\)/);
      const rm = await d.cli(['rm', 's']);
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual(runcList(runcRoot()), []);
      assert.deepEqual(overlays(), []);
    });

    test('a running container survives kill -9 of the engine (and, split, of every service)', async () => {
      const r = await d.cli(['run', '-d', '--name', 'live', ref, 'sleep', '300']);
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim();
      await d.killEngine();
      assert.equal(runcList(runcRoot()).find((c) => c.id === id)?.status, 'running');
      if (mode === 'split') {
        for (const svc of ['executor', 'network', 'storage', 'image'] as const) {
          await d.killService(svc);
          assert.equal(runcList(runcRoot()).find((c) => c.id === id)?.status, 'running', `after killing ${svc}`);
          await d.startService(svc);
        }
      }
      await d.startEngine();
      assert.match((await d.cli(['ps'])).stdout, /Up .* live\n/);
      if (mode === 'split') {
        // A service dying under a running engine: the engine keeps following the container.
        await d.killService('executor');
        await d.startService('executor');
      }
      const stop = await d.cli(['stop', '-t', '1', 'live']);
      assert.equal(stop.code, 0, stop.stderr);
      await until('exit recorded', async () => /Exited/.test((await d.cli(['ps', '-a'])).stdout));
      assert.equal((await d.cli(['rm', 'live'])).code, 0);
      assert.deepEqual(runcList(runcRoot()), []);
    });

    test('an exit while the engine is down is reported with its real exit code', async () => {
      const r = await d.cli(['run', '-d', '--name', 'late', ref, 'sh', '-c', 'sleep 1; exit 7']);
      assert.equal(r.code, 0, r.stderr);
      await d.killEngine();
      await new Promise((res) => setTimeout(res, 2500));
      await d.startEngine();
      await until('exit 7 reported', async () => {
        const i = await d.api('GET', '/containers/late/json');
        return i.body?.State?.Status === 'exited' && i.body.State.ExitCode === 7;
      });
      assert.equal((await d.cli(['rm', 'late'])).code, 0);
      assert.deepEqual(overlays(), []);
    });

    test('bad input: unknown image, malformed reference, registry down, failing command', async () => {
      const unknown = await d.cli(['pull', `${reg.host}/nothere:latest`]);
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, /not found|does not exist/i);
      assert.match(unknown.stderr, /nothere/);

      const tag = await d.cli(['pull', `${reg.host}/busybox:nope`]);
      assert.notEqual(tag.code, 0);
      assert.match(tag.stderr, /busybox:nope/);
      assert.match(tag.stderr, /not found/i);

      const bad = await d.cli(['pull', 'Bad//Name:tag']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /invalid reference format/);

      const port = await closedPort();
      const t0 = Date.now();
      const down = await d.cli(['pull', `127.0.0.1:${port}/busybox:latest`]);
      assert.notEqual(down.code, 0);
      assert.match(down.stderr, new RegExp(`127.0.0.1:${port}`));
      assert.ok(Date.now() - t0 < 15_000, 'a registry that is down fails quickly');

      const run = await d.cli(['run', '--rm', ref, '/nonexistent']);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /nonexistent/);
      assert.deepEqual((await d.api('GET', '/containers/json?all=1')).body, []);
      assert.deepEqual(overlays(), []);
      assert.deepEqual(runcList(runcRoot()), []);

      const noimg = await d.cli(['run', '--rm', `${reg.host}/missing:1`, 'true']);
      assert.notEqual(noimg.code, 0);
      assert.match(noimg.stderr, /missing/);
      assert.deepEqual((await d.api('GET', '/containers/json?all=1')).body, []);
    });
  });
}
