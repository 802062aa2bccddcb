import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** busybox httpd on port 80 serving /www/index.html; prints "web ready" first. */
const HTTPD = ['sh', '-c', 'mkdir /www && echo hello-tc > /www/index.html && echo web ready && exec httpd -f -p 80 -h /www'];

/**
 * testcontainers-node v11 (from npm) against congad: DOCKER_HOST is the daemon's socket, Ryuk is
 * off (it would need its own image), the image comes from the local registry (127.0.0.1:port,
 * plain http as loopback registries are). testcontainers reads its environment when its runtime
 * client is first made, so the module is loaded after the daemon is up.
 */
describe('testcontainers-node against congad', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let home: string;
  let image: string;
  let tc: typeof import('testcontainers');
  const saved = { DOCKER_HOST: process.env.DOCKER_HOST, RYUK: process.env.TESTCONTAINERS_RYUK_DISABLED, HOME: process.env.HOME };

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'conga-tc-home-'));
    reg = await startRegistry();
    image = (await pushImage(reg.host, 'tc/busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    process.env.DOCKER_HOST = `unix://${d.socket}`;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    // No ~/.testcontainers.properties or ~/.docker/config.json of the machine.
    process.env.HOME = home;
    tc = await import('testcontainers');
  });
  after(async () => {
    for (const [k, v] of [['DOCKER_HOST', saved.DOCKER_HOST], ['TESTCONTAINERS_RYUK_DISABLED', saved.RYUK], ['HOME', saved.HOME]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await d?.stop();
    await reg?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('GenericContainer with an exposed port and Wait.forListeningPorts; GET through getMappedPort', async () => {
    const c = await new tc.GenericContainer(image).withCommand(HTTPD).withExposedPorts(80).withWaitStrategy(tc.Wait.forListeningPorts()).withStartupTimeout(30_000).start();
    try {
      const port = c.getMappedPort(80);
      assert.ok(port > 0);
      assert.equal(await httpGet(port, '/index.html'), 'hello-tc\n');
      const r = await c.exec(['sh', '-c', 'echo $((6*7))']);
      assert.equal(r.exitCode, 0);
      assert.equal(r.output, '42\n');
      assert.equal((await c.exec(['/no/such/binary'])).exitCode, 127);
    } finally {
      await c.stop();
    }
    const left = await d.api('GET', `/containers/json?all=1`);
    assert.deepEqual(left.body, [], 'stop() removes the container');
  });

  test('Wait.forLogMessage, logs(), stop', async () => {
    const c = await new tc.GenericContainer(image).withCommand(['sh', '-c', 'echo starting; sleep 0.3; echo all systems go; exec sleep 300']).withWaitStrategy(tc.Wait.forLogMessage('all systems go')).withStartupTimeout(30_000).start();
    try {
      const st = await d.api('GET', `/containers/${c.getId()}/json`);
      assert.equal(st.body.State.Status, 'running');
      const lines: string[] = [];
      const logs = await c.logs();
      await new Promise<void>((resolve) => {
        logs.on('data', (l: string | Buffer) => {
          lines.push(String(l));
          if (lines.join('').includes('all systems go')) resolve();
        });
      });
      assert.match(lines.join(''), /starting[\s\S]*all systems go/);
    } finally {
      await c.stop({ timeout: 1000 });
    }
    assert.equal((await d.api('GET', `/containers/${c.getId()}/json`)).status, 404);
  });

  test('a wait that never succeeds fails start() and leaves no container', async () => {
    await assert.rejects(
      new tc.GenericContainer(image).withCommand(['sleep', '300']).withLabels({ 'conga-test': 'tc-timeout' }).withWaitStrategy(tc.Wait.forLogMessage('never printed')).withStartupTimeout(1500).start(),
      /never printed|timed out|timeout/i,
    );
    const left = await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['conga-test=tc-timeout'] }))}`);
    assert.deepEqual(left.body, []);
  });
});
