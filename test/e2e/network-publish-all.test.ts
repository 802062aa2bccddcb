import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { purgeCniRules, startDaemon, type Daemon } from '../harness/daemon';

/**
 * `-P` publishes the image's EXPOSE ports together with `--expose` ones on random host ports;
 * `conga port` lists them in docker's format and each answers an HTTP GET on 127.0.0.1.
 * `-p` ranges publish pairwise; mismatched or reversed ranges are refused before anything is made.
 */

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Three consecutive ports free on 127.0.0.1 (bound and released to check). */
async function freeRange(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let base = 21000 + (process.pid % 1000) * 20; ; base += 3) {
    if ((await free(base)) && (await free(base + 1)) && (await free(base + 2))) return base;
  }
}

async function retry<T>(f: () => Promise<T>, tries = 50): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= tries) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('network: -P with image EXPOSE, -p ranges', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;
  let subnet = '';
  const names: string[] = [];

  before(async () => {
    reg = await startRegistry();
    const img = await buildBusyboxImage({ exposedPorts: ['80/tcp', '81/tcp'], extraLayers: [{ 'www/index.html': 'hello from conga\n' }] });
    ref = (await pushImage(reg.host, 'exposer', 'latest', img)).reference;
    d = await startDaemon();
    subnet = (await d.api('GET', '/networks/bridge')).body.IPAM.Config[0].Subnet;
    const pull = await d.cli(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
  });
  after(async () => {
    if (d) {
      if (names.length) await d.cli(['rm', '-f', ...names]);
      await d.stop();
    }
    if (subnet) purgeCniRules(subnet);
    await reg?.stop();
  });

  test('-P --expose 82 publishes 80, 81 (image) and 82 on random ports that answer HTTP', async () => {
    const name = `pall-${process.pid}`;
    names.push(name);
    const httpd = [80, 81, 82].map((p) => `httpd -p ${p} -h /www`).join(' && ');
    const r = await d.cli(['run', '-d', '--name', name, '-P', '--expose', '82', ref, 'sh', '-c', `${httpd} && exec sleep 300`]);
    assert.equal(r.code, 0, r.stderr);
    const out = (await d.cli(['port', name])).stdout;
    const lines = out.trim().split('\n').sort();
    assert.equal(lines.length, 3, out);
    const hostPorts: number[] = [];
    for (const [i, line] of lines.entries()) {
      const m = new RegExp(`^${80 + i}/tcp -> 0\\.0\\.0\\.0:(\\d+)$`).exec(line);
      assert.ok(m, `docker's format: ${line}`);
      hostPorts.push(Number(m[1]));
    }
    assert.equal(new Set(hostPorts).size, 3, 'three different host ports');
    for (const port of hostPorts) assert.equal(await retry(() => httpGet(port, '/index.html')), 'hello from conga\n');
    const info = (await d.api('GET', `/containers/${name}/json`)).body;
    assert.deepEqual(Object.keys(info.Config.ExposedPorts).sort(), ['80/tcp', '81/tcp', '82/tcp']);
  });

  test('-p 127.0.0.1:H-H+2:80-82 publishes pairwise; bad ranges are refused', async () => {
    const name = `prange-${process.pid}`;
    names.push(name);
    const base = await freeRange();
    const httpd = [80, 81, 82].map((p) => `httpd -p ${p} -h /www`).join(' && ');
    const r = await d.cli(['run', '-d', '--name', name, '-p', `127.0.0.1:${base}-${base + 2}:80-82`, ref, 'sh', '-c', `${httpd} && exec sleep 300`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await d.cli(['port', name, '81'])).stdout, `127.0.0.1:${base + 1}\n`);
    for (let i = 0; i < 3; i++) assert.equal(await retry(() => httpGet(base + i, '/index.html')), 'hello from conga\n');
    for (const [spec, why] of [
      [`${base}-${base + 1}:80-82`, /same number of ports/],
      [`${base + 2}-${base}:80-82/udp`, /the end is lower than the start/],
    ] as const) {
      const bad = await d.cli(['run', '-d', '-p', spec, ref, 'true']);
      assert.equal(bad.code, 125, bad.stderr);
      assert.match(bad.stderr, why);
    }
    assert.equal(((await d.api('GET', '/containers/json?all=1')).body as unknown[]).length, 2, 'refused runs left no container');
  });
});
