import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { E, newContext } from '@conga/common';
import { makeTestEnv } from './test-env';
import { inNetns } from './testsuite';
import { isNsfs } from './netns';
import { runCommand } from './util/run-command';

/** IPs host-local holds for a network (its dataDir has one file per reserved address). */
async function reservedIps(ipamDir: string, network: string): Promise<string[]> {
  try {
    return (await readdir(join(ipamDir, network))).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
  } catch {
    return [];
  }
}

/** Host-side veths currently enslaved to a bridge. */
async function bridgePorts(bridge: string): Promise<string[]> {
  const r = await runCommand('ip', ['-o', 'link', 'show', 'master', bridge]);
  return r.code === 0 ? r.stdout.trim().split('\n').filter(Boolean) : [];
}

test('network: detach releases the IP and the veth; DEL works from the cache after a restart', async (t) => {
  const env = await makeTestEnv();
  t.after(() => env.cleanup());
  const ipam = join(env.opts.dir, 'ipam');
  const svc1 = await env.start();
  const ctx = newContext();
  const a = await svc1.attach({ containerId: 'restart-me', network: 'conga0' }, ctx);
  const b = await svc1.attach({ containerId: 'detach-me', network: 'conga0' }, ctx);
  const ipA = a.interfaces[0].addresses[0].split('/')[0];
  const ipB = b.interfaces[0].addresses[0].split('/')[0];
  assert.deepEqual((await reservedIps(ipam, 'conga0')).sort(), [ipA, ipB].sort());
  assert.equal((await bridgePorts(env.bridge)).length, 2);
  assert.equal(a.hostsPath, '', 'no files_dir: no files');

  await svc1.detach({ containerId: 'detach-me' }, ctx);
  assert.deepEqual(await reservedIps(ipam, 'conga0'), [ipA]);
  assert.equal((await bridgePorts(env.bridge)).length, 1);

  // "restart": a new instance over the same dirs sees the attachment and can undo it.
  await svc1.close();
  const svc2 = await env.start();
  assert.deepEqual((await svc2.listAttachments({}, ctx)).attachments.map((x) => x.containerId), ['restart-me']);
  assert.deepEqual(await svc2.getAttachment({ containerId: 'restart-me' }, ctx), a);
  assert.ok(await isNsfs(a.netnsPath), 'the netns survived the restart');
  await svc2.detach({ containerId: 'restart-me' }, ctx);
  assert.deepEqual(await reservedIps(ipam, 'conga0'), []);
  assert.deepEqual(await bridgePorts(env.bridge), []);
  await assert.rejects(stat(a.netnsPath), { code: 'ENOENT' });
  assert.deepEqual(await readdir(join(env.opts.dir, 'cni-cache')), []);
});

test('network: a conflist with a missing plugin fails naming it and leaves no netns, IP or record', async (t) => {
  const env = await makeTestEnv();
  t.after(() => env.cleanup());
  const confDir = join(env.opts.dir, 'cni', 'net.d');
  const ipam = join(env.opts.dir, 'ipam');
  const svc = await env.start();
  const ctx = newContext();
  await writeFile(
    join(confDir, 'broken.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'broken',
      plugins: [
        { type: 'bridge', bridge: env.bridge, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: env.subnet }]], dataDir: ipam } },
        { type: 'no-such-plugin' },
      ],
    }),
  );
  const files = join(env.root, 'files');
  await mkdir(files);
  await assert.rejects(svc.attach({ containerId: 'broken1', network: 'broken', filesDir: files }, ctx), (e: Error) => E.CniFailed.is(e) && /no-such-plugin/.test(e.message) && /not found/.test(e.message));
  assert.equal((await runCommand('ip', ['link', 'show', env.bridge])).code, 0, 'the bridge plugin did run ADD (it made the bridge)');
  assert.deepEqual(await reservedIps(ipam, 'broken'), [], 'the bridge plugin released its IP');
  assert.deepEqual(await bridgePorts(env.bridge), [], 'no veth left');
  assert.equal(await svc.netns.exists('broken1'), false);
  assert.deepEqual(await readdir(svc.netns.dir), []);
  assert.deepEqual(await readdir(files), []);
  assert.deepEqual((await svc.listAttachments({}, ctx)).attachments, []);
  assert.deepEqual(await readdir(join(env.opts.dir, 'cni-cache')), []);

  // The plugin's own error message comes through (bridge refuses a bad subnet).
  await writeFile(
    join(confDir, 'badsubnet.conflist'),
    JSON.stringify({ cniVersion: '1.0.0', name: 'badsubnet', plugins: [{ type: 'bridge', bridge: env.bridge, ipam: { type: 'host-local', ranges: [[{ subnet: 'not-a-subnet' }]], dataDir: ipam } }] }),
  );
  await assert.rejects(svc.attach({ containerId: 'broken2', network: 'badsubnet' }, ctx), (e: Error) => E.CniFailed.is(e) && /bridge ADD/.test(e.message) && /not-a-subnet/.test(e.message));
  assert.equal(await svc.netns.exists('broken2'), false);

  // A file that is not JSON is reported by name.
  await writeFile(join(confDir, 'garbage.conflist'), '{ nope');
  await assert.rejects(svc.attach({ containerId: 'broken3', network: 'garbage' }, ctx), (e: Error) => E.NetworkConfigInvalid.is(e) && /garbage\.conflist/.test(e.message));
  assert.equal(await svc.netns.exists('broken3'), false);
});

test('network: an attach that crashed half-way is released at the next start', async (t) => {
  const env = await makeTestEnv();
  t.after(() => env.cleanup());
  const svc = await env.start();
  const ctx = newContext();
  await svc.attach({ containerId: 'crashy', network: 'conga0' }, ctx);
  // Simulate a crash before the record was written: drop only the record, then restart.
  await rm(join(env.opts.dir, 'attachments', 'crashy.json'));
  await svc.close();
  const svc2 = await env.start();
  await assert.rejects(svc2.getAttachment({ containerId: 'crashy' }, ctx), (e) => E.AttachmentNotFound.is(e));
  assert.equal((await bridgePorts(env.bridge)).length, 0, 'the old veth was deleted');
  assert.equal((await reservedIps(join(env.opts.dir, 'ipam'), 'conga0')).length, 0, 'the old IP was released');
  assert.equal(await svc2.netns.exists('crashy'), false);
  const b = await svc2.attach({ containerId: 'crashy', network: 'conga0' }, ctx);
  assert.match(await inNetns(b.netnsPath, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']), new RegExp(b.interfaces[0].addresses[0].split('/')[0].replace(/\./g, '\\.')));
});

test('network: the default conflist is written to the conf dir at start', async (t) => {
  const env = await makeTestEnv();
  t.after(() => env.cleanup());
  const svc = await env.start();
  const list = JSON.parse(await readFile(join(env.opts.dir, 'cni', 'net.d', 'conga0.conflist'), 'utf8'));
  assert.equal(list.name, 'conga0');
  assert.equal(list.cniVersion, '1.0.0');
  const types = list.plugins.map((p: { type: string }) => p.type);
  assert.deepEqual(types.slice(0, 2), ['bridge', 'portmap']);
  assert.equal(list.plugins[0].bridge, env.bridge);
  assert.deepEqual(list.plugins[0].ipam.ranges, [[{ subnet: env.subnet }]]);
  assert.equal(list.plugins[0].ipMasq, svc.firewall);
  assert.equal(types.includes('firewall'), svc.firewall);
});

test('network: many containers attach and detach concurrently, each with its own IP', async (t) => {
  const env = await makeTestEnv();
  t.after(() => env.cleanup());
  const svc = await env.start();
  const ctx = newContext();
  const ids = Array.from({ length: 8 }, (_, i) => `many-${i}`);
  const atts = await Promise.all(ids.map((containerId) => svc.attach({ containerId, network: 'conga0' }, ctx)));
  const ips = atts.map((a) => a.interfaces[0].addresses[0]);
  assert.equal(new Set(ips).size, ids.length, `distinct IPs: ${ips.join(' ')}`);
  assert.equal((await reservedIps(join(env.opts.dir, 'ipam'), 'conga0')).length, ids.length);
  await Promise.all(ids.map((containerId) => svc.detach({ containerId }, ctx)));
  assert.deepEqual(await reservedIps(join(env.opts.dir, 'ipam'), 'conga0'), []);
  assert.deepEqual(await bridgePorts(env.bridge), []);
  assert.deepEqual(await readdir(svc.netns.dir), []);
});
