import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { E, newContext } from '@conga/common';
import { makeTestEnv, type TestEnv } from './test-env';
import { runCommand } from './util/run-command';
import type { LocalNetworkService } from './service';

const ctx = newContext();

async function reservedIps(env: TestEnv, network: string): Promise<string[]> {
  return (await readdir(join(env.opts.dir, 'ipam', network)).catch(() => [] as string[])).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
}
async function linkExists(name: string): Promise<boolean> {
  return (await runCommand('ip', ['link', 'show', 'dev', name])).code === 0;
}
async function natRulesMention(text: string): Promise<boolean> {
  const r = await runCommand('iptables-save', ['-t', 'nat']);
  return r.stdout.includes(text);
}
const ipOf = (a: { interfaces: { addresses: string[] }[] }, i = 0) => a.interfaces[i].addresses[0].split('/')[0];
const randomSubnet = () => `10.${randomInt(150, 250)}.${randomInt(0, 255)}.0/24`;

/** A service plus a files dir per container; user networks made here are removed at the end. */
async function setup(t: { after(fn: () => Promise<void>): void }) {
  const env = await makeTestEnv();
  const svc = await env.start();
  const files = await mkdtemp(join(env.root, 'files-'));
  const nets: string[] = [];
  t.after(async () => {
    for (const a of (await svc.listAttachments({}, ctx)).attachments) await svc.detach({ containerId: a.containerId }, ctx).catch(() => undefined);
    for (const n of nets) {
      const info = await svc.getNetwork({ nameOrId: n }, ctx).catch(() => undefined);
      await svc.deleteNetwork({ nameOrId: n }, ctx).catch(() => undefined);
      if (info?.driver === 'bridge' && info.device) await runCommand('ip', ['link', 'del', info.device]);
    }
    await env.cleanup();
  });
  const dirFor = async (id: string) => {
    const d = join(files, id);
    await mkdir(d);
    return d;
  };
  const netName = (tag: string) => {
    const n = `t-${tag}-${randomBytes(3).toString('hex')}`;
    nets.push(n);
    return n;
  };
  return { env, svc, dirFor, netName };
}

test('networks: create, list, inspect, refuse overlaps and bad input, remove only when unused', async (t) => {
  const { env, svc, dirFor, netName } = await setup(t);
  const name = netName('a');
  const subnet = randomSubnet();
  const n = await svc.createNetwork({ name, subnet, labels: { team: 'x' } }, ctx);
  assert.match(n.id, /^[0-9a-f]{64}$/);
  assert.equal(n.driver, 'bridge');
  assert.equal(n.subnet, subnet);
  assert.equal(n.gateway, subnet.replace(/0\/24$/, '1'));
  assert.deepEqual(n.labels, { team: 'x' });
  assert.match(n.configPath, new RegExp(`${name}\\.conflist$`));
  const list = JSON.parse(await readFile(n.configPath, 'utf8'));
  assert.equal(list.name, name);
  assert.deepEqual(list.plugins.map((p: { type: string }) => p.type).slice(0, 2), ['bridge', 'portmap']);
  const names = (await svc.listNetworks({}, ctx)).networks.map((x) => x.name);
  for (const x of ['host', 'none', 'conga0', name]) assert.ok(names.includes(x), `${x} in ${names.join(',')}`);
  assert.equal((await svc.getNetwork({ nameOrId: n.id.slice(0, 12) }, ctx)).name, name);
  assert.equal((await svc.getNetwork({ nameOrId: 'bridge' }, ctx)).name, 'conga0');

  // bad input: each a clear error, nothing written
  const before = (await readdir(join(env.opts.dir, 'cni', 'net.d'))).sort();
  await assert.rejects(svc.createNetwork({ name: netName('b'), subnet: subnet.replace(/\/24$/, '/25') }, ctx), (e: Error) => E.SubnetOverlap.is(e) && e.message.includes(name));
  await assert.rejects(svc.createNetwork({ name: netName('c'), subnet: env.subnet }, ctx), (e: Error) => E.SubnetOverlap.is(e) && /conga0/.test(e.message));
  await assert.rejects(svc.createNetwork({ name, subnet: randomSubnet() }, ctx), (e) => E.NetworkExists.is(e));
  await assert.rejects(svc.createNetwork({ name: 'host' }, ctx), (e) => E.NetworkExists.is(e));
  await assert.rejects(svc.createNetwork({ name: 'bad name' }, ctx), (e) => E.InvalidArgument.is(e));
  await assert.rejects(svc.createNetwork({ name: netName('d'), subnet: '10.1.2.3/24' }, ctx), (e: Error) => E.InvalidArgument.is(e) && /host bits/.test(e.message));
  await assert.rejects(svc.createNetwork({ name: netName('e'), subnet: '10.201.0.0/24', gateway: '10.9.9.9' }, ctx), (e: Error) => E.InvalidArgument.is(e) && /gateway/.test(e.message));
  await assert.rejects(svc.createNetwork({ name: netName('f'), driver: 'overlay' }, ctx), (e: Error) => E.InvalidArgument.is(e) && /overlay/.test(e.message));
  assert.deepEqual((await readdir(join(env.opts.dir, 'cni', 'net.d'))).sort(), before);
  await assert.rejects(svc.getNetwork({ nameOrId: 'no-such-net' }, ctx), (e) => E.NetworkNotFound.is(e));
  await assert.rejects(svc.deleteNetwork({ nameOrId: 'conga0' }, ctx), (e) => E.NetworkBuiltin.is(e));
  await assert.rejects(svc.deleteNetwork({ nameOrId: 'none' }, ctx), (e) => E.NetworkBuiltin.is(e));

  // in use: refused; unused: removed with its bridge, conflist and IPAM dir
  const a = await svc.attach({ containerId: 'user1', network: name, name: 'web', filesDir: await dirFor('user1') }, ctx);
  assert.equal(a.interfaces[0].network, name);
  assert.deepEqual((await svc.getNetwork({ nameOrId: name }, ctx)).containerIds, ['user1']);
  await assert.rejects(svc.deleteNetwork({ nameOrId: name }, ctx), (e: Error) => E.NetworkInUse.is(e) && /user1/.test(e.message));
  await svc.detach({ containerId: 'user1' }, ctx);
  assert.ok(await linkExists(n.device));
  await svc.deleteNetwork({ nameOrId: name }, ctx);
  assert.equal(await linkExists(n.device), false, 'bridge removed');
  await assert.rejects(stat(n.configPath), { code: 'ENOENT' });
  await assert.rejects(stat(join(env.opts.dir, 'ipam', name)), { code: 'ENOENT' });
  await assert.rejects(svc.getNetwork({ nameOrId: name }, ctx), (e) => E.NetworkNotFound.is(e));
  await assert.rejects(svc.attach({ containerId: 'user2', network: name }, ctx), (e) => E.NetworkNotFound.is(e));
});

test('networks: peers resolve by name and alias through hosts kept current on connect/disconnect', async (t) => {
  const { env, svc, dirFor, netName } = await setup(t);
  const net = netName('p');
  const other = netName('q');
  await svc.createNetwork({ name: net, subnet: randomSubnet() }, ctx);
  await svc.createNetwork({ name: other, subnet: randomSubnet() }, ctx);
  const [a, b] = await Promise.all([
    svc.attach({ containerId: 'peer-a', network: net, name: 'alpha', aliases: ['db'], filesDir: await dirFor('peer-a') }, ctx),
    svc.attach({ containerId: 'peer-b', network: net, name: 'beta', filesDir: await dirFor('peer-b') }, ctx),
  ]);
  const hostsA = await readFile(a.hostsPath, 'utf8');
  const hostsB = await readFile(b.hostsPath, 'utf8');
  assert.match(hostsB, new RegExp(`^${ipOf(a).replace(/\./g, '\\.')}\\talpha db$`, 'm'));
  assert.match(hostsA, new RegExp(`^${ipOf(b).replace(/\./g, '\\.')}\\tbeta$`, 'm'));
  const ping = await runCommand('nsenter', [`--net=${a.netnsPath}`, '/bin/busybox', 'ping', '-c', '1', '-W', '5', ipOf(b)], { timeoutMs: 30_000 });
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  const inode = (await stat(b.hostsPath)).ino;

  // a container on the default network, connected to `net` later, then disconnected
  const c = await svc.attach({ containerId: 'peer-c', network: '', name: 'gamma', filesDir: await dirFor('peer-c') }, ctx);
  assert.doesNotMatch(await readFile(b.hostsPath, 'utf8'), /gamma/);
  const c2 = await svc.connect({ containerId: 'peer-c', endpoint: { network: net, aliases: ['g'] } }, ctx);
  assert.deepEqual(c2.interfaces.map((i) => [i.name, i.network]), [['eth0', 'conga0'], ['eth1', net]]);
  assert.match(await readFile(b.hostsPath, 'utf8'), new RegExp(`^${ipOf(c2, 1).replace(/\./g, '\\.')}\\tgamma g$`, 'm'));
  assert.match(await readFile(c.hostsPath, 'utf8'), /\talpha db$/m);
  assert.equal((await stat(b.hostsPath)).ino, inode, 'hosts rewritten in place (it is bind-mounted)');
  await assert.rejects(svc.connect({ containerId: 'peer-c', endpoint: { network: net } }, ctx), (e) => E.AlreadyConnected.is(e));
  await assert.rejects(svc.connect({ containerId: 'peer-c', endpoint: { network: 'nope-net' } }, ctx), (e) => E.NetworkNotFound.is(e));
  await assert.rejects(svc.disconnect({ containerId: 'peer-c', network: other }, ctx), (e) => E.NotConnected.is(e));
  await svc.disconnect({ containerId: 'peer-c', network: net }, ctx);
  assert.doesNotMatch(await readFile(b.hostsPath, 'utf8'), /gamma/);
  assert.equal((await runCommand('nsenter', [`--net=${c.netnsPath}`, 'ip', 'link', 'show', 'eth1'])).code, 1, 'eth1 gone');
  assert.equal((await reservedIps(env, net)).length, 2, 'the disconnected address was released');

  // fixed address
  const d = await svc.attach({ containerId: 'peer-d', network: other, ipv4Address: (await svc.getNetwork({ nameOrId: other }, ctx)).subnet.replace(/0\/24$/, '77') }, ctx);
  assert.match(ipOf(d), /\.77$/);
  await assert.rejects(svc.attach({ containerId: 'peer-e', network: other, ipv4Address: '192.0.2.1' }, ctx), (e: Error) => E.InvalidArgument.is(e) && /not inside/.test(e.message));

  await svc.detach({ containerId: 'peer-a' }, ctx);
  assert.doesNotMatch(await readFile(b.hostsPath, 'utf8'), /alpha/);
});

/** Serve a file with busybox httpd inside a netns; returns a stop function. */
async function httpdIn(netnsPath: string, dir: string): Promise<() => void> {
  await writeFile(join(dir, 'index.html'), 'hello from the container\n');
  const child = spawn('nsenter', [`--net=${netnsPath}`, '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', dir], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    const r = await runCommand('nsenter', [`--net=${netnsPath}`, 'ss', '-ltn']);
    if (/:80\b/.test(r.stdout)) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return () => child.kill('SIGKILL');
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/index.html', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('ports: 127.0.0.1:HOSTPORT reaches the container; a taken port is refused; rules go with the container', async (t) => {
  const { env, svc, dirFor } = await setup(t);
  const port = await freePort();
  const www = await dirFor('www');
  const a = await svc.attach({ containerId: 'pub-a', network: '', ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 80, protocol: 'tcp' }] }, ctx);
  assert.deepEqual(a.ports, [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 80, protocol: 'tcp' }]);
  const stop = await httpdIn(a.netnsPath, www);
  t.after(stop);
  assert.equal(await httpGet(port), 'hello from the container\n');
  assert.ok(await natRulesMention('pub-a'), 'portmap rules present');

  // the same port again, and a port a host process holds: refused, nothing left behind
  await assert.rejects(svc.attach({ containerId: 'pub-b', network: '', ports: [{ hostIp: '', hostPort: port, containerPort: 81 }] }, ctx), (e: Error) => E.PortAllocated.is(e) && e.message.includes(String(port)));
  const held = createServer();
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => held.close(r)));
  const heldPort = (held.address() as { port: number }).port;
  await assert.rejects(svc.attach({ containerId: 'pub-b', network: '', ports: [{ hostIp: '127.0.0.1', hostPort: heldPort, containerPort: 80 }] }, ctx), (e: Error) => E.PortAllocated.is(e) && /host is listening/.test(e.message));
  await assert.rejects(svc.attach({ containerId: 'pub-b', network: '', ports: [{ hostPort: 1, containerPort: 0 }] }, ctx), (e) => E.InvalidArgument.is(e));
  assert.equal(await svc.netns.exists('pub-b'), false);
  assert.equal(await natRulesMention('pub-b'), false);
  assert.equal((await reservedIps(env, 'conga0')).length, 1);
  // host port 0: a free one is picked
  const b = await svc.attach({ containerId: 'pub-b', network: '', ports: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80 }] }, ctx);
  assert.ok(b.ports[0].hostPort > 0 && b.ports[0].hostPort !== port);

  stop();
  await svc.detach({ containerId: 'pub-a' }, ctx);
  await svc.detach({ containerId: 'pub-b' }, ctx);
  assert.equal(await natRulesMention('pub-a'), false, 'portmap rules removed');
  // the port is free again
  const c = await svc.attach({ containerId: 'pub-c', network: '', ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 80 }] }, ctx);
  assert.equal(c.ports[0].hostPort, port);
});

for (const driver of ['macvlan', 'ipvlan'] as const) {
  test(`networks: ${driver} on a veth parent gives containers addresses that reach each other`, async (t) => {
    const { env, svc, netName } = await setup(t);
    const parent = `cgd${randomBytes(4).toString('hex')}`;
    // A veth end as the parent (this kernel has no dummy module); deleting it deletes its peer.
    const peer = parent.replace(/^cgd/, 'cge');
    const add = await runCommand('ip', ['link', 'add', parent, 'type', 'veth', 'peer', 'name', peer]);
    assert.equal(add.code, 0, add.stderr);
    t.after(async () => void (await runCommand('ip', ['link', 'del', parent])));
    for (const l of [parent, peer]) await runCommand('ip', ['link', 'set', l, 'up']);
    const name = netName(driver.slice(0, 3));
    await assert.rejects(svc.createNetwork({ name, driver, options: { parent: 'cg-no-such' } }, ctx), (e: Error) => E.InvalidArgument.is(e) && /does not exist/.test(e.message));
    const n = await svc.createNetwork({ name, driver, subnet: randomSubnet(), options: { parent } }, ctx);
    assert.equal(n.driver, driver);
    assert.equal(n.device, parent);
    const probe = await runCommand('ip', ['link', 'add', `${parent}p`, 'link', parent, 'type', driver]);
    await runCommand('ip', ['link', 'del', `${parent}p`]);
    if (probe.code !== 0) {
      // This kernel lacks the driver: the plugin's own error comes through and nothing is left.
      t.diagnostic(`kernel has no ${driver}: ${probe.stderr.trim()}`);
      await assert.rejects(svc.attach({ containerId: `${driver}-v1`, network: name }, ctx), (e: Error) => E.CniFailed.is(e) && e.message.includes(`${driver} ADD`));
      assert.equal(await svc.netns.exists(`${driver}-v1`), false);
      assert.deepEqual(await reservedIps(env, name), []);
      await svc.deleteNetwork({ nameOrId: name }, ctx);
      return;
    }
    const [a, b] = await Promise.all(['v1', 'v2'].map((id) => svc.attach({ containerId: `${driver}-${id}`, network: name }, ctx)));
    const ping = await runCommand('nsenter', [`--net=${a.netnsPath}`, '/bin/busybox', 'ping', '-c', '1', '-W', '5', ipOf(b)], { timeoutMs: 30_000 });
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    await svc.detach({ containerId: a.containerId }, ctx);
    await svc.detach({ containerId: b.containerId }, ctx);
    assert.deepEqual(await reservedIps(env, name), []);
    await svc.deleteNetwork({ nameOrId: name }, ctx);
    assert.ok(await linkExists(parent), 'the parent is not ours to delete');
  });
}
