import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startRegistry } from '../harness/registry';
import { buildBusyboxImage, buildTar, pushImage } from '../harness/busybox-image';
import { startDaemon } from '../harness/daemon';

/**
 * CVE-2018-15664 (docker cp symlink-exchange race): a process in the container keeps swapping a
 * directory for a symlink to "/" while we copy out of and into a path below it. The engine
 * must never read a host file (the secret) nor write outside the container's root. A naive
 * host-side read through /proc/<pid>/root is shown to hit the host secret in the same setup,
 * so this test would fail against an engine that resolved paths like that.
 */

function request(socket: string, method: string, path: string, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path, headers: body ? { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('cp in and out while the container swaps a directory for a symlink to /', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
  const d = await startDaemon({ mode: 'all-in-one' });
  t.after(() => d.stop());
  const hostDir = mkdtempSync('/tmp/cg-secret-');
  t.after(() => rmSync(hostDir, { recursive: true, force: true }));
  const secret = `HOST-SECRET-${randomBytes(8).toString('hex')}`;
  writeFileSync(join(hostDir, 'secret'), secret);
  const hostListing = readdirSync(hostDir);

  assert.equal((await d.cli(['pull', ref])).code, 0);
  // /w/d is a real directory holding a decoy at the host secret's path, or a symlink to "/".
  const script = `mkdir -p /w/real${hostDir} && echo decoy > /w/real${hostDir}/secret && ln -s / /w/evil && ` +
    'while :; do mv /w/real /w/d; mv /w/d /w/real; ln -s / /w/d 2>/dev/null; rm -f /w/d; done';
  const run = await d.cli(['run', '-d', '--name', 'swapper', ref, 'sh', '-c', script]);
  assert.equal(run.code, 0, run.stderr);
  const pid = (await d.api('GET', '/containers/swapper/json')).body.State.Pid as number;
  assert.ok(pid > 0);

  // The race is live: resolving /w/d on the host side reaches the host's file.
  let naiveHits = 0;
  const deadline = Date.now() + 20_000;
  while (naiveHits === 0 && Date.now() < deadline) {
    try {
      if (readFileSync(`/proc/${pid}/root/w/d${hostDir}/secret`, 'utf8') === secret) naiveHits++;
    } catch {
      // missing right now
    }
  }
  assert.ok(naiveHits > 0, 'a naive path join through /proc/<pid>/root should have reached the host secret');

  const q = (p: string) => `/containers/swapper/archive?path=${encodeURIComponent(p)}`;
  const statuses = new Map<number, number>();
  const payload = await buildTar([{ name: 'pwned', type: 'file', data: Buffer.from('written by cp') }]);
  for (let i = 0; i < 60; i++) {
    const out = await request(d.socket, 'GET', q(`/w/d${hostDir}/secret`));
    statuses.set(out.status, (statuses.get(out.status) ?? 0) + 1);
    assert.ok(!out.body.includes(secret), `copy ${i} leaked the host secret`);
    const put = await request(d.socket, 'PUT', q(`/w/d${hostDir}`), payload);
    statuses.set(put.status, (statuses.get(put.status) ?? 0) + 1);
    assert.ok(put.status < 500, `copy in ${i}: ${put.status} ${put.body.toString()}`);
    // An absolute link to "/" is the container's root: the same path is inside the container.
    const viaLink = await request(d.socket, 'GET', q(`/w/evil${hostDir}/secret`));
    assert.ok(!viaLink.body.includes(secret), `copy ${i} through /w/evil leaked the host secret`);
  }
  assert.ok(statuses.get(200), `some copies should succeed: ${JSON.stringify([...statuses])}`);
  assert.deepEqual(readdirSync(hostDir), hostListing, 'nothing written next to the host secret');
  assert.equal(readFileSync(join(hostDir, 'secret'), 'utf8'), secret);
  assert.ok(!existsSync(join('/', 'pwned')));
});
