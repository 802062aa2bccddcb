import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon, type Mode } from '../harness/daemon';

/**
 * Networking end to end through the CLI and a real congad: user networks (bridge + host-local +
 * portmap + firewall from /usr/lib/cni), name resolution between containers, published ports
 * reachable on 127.0.0.1, none/host modes, connect/disconnect, and nothing left behind.
 */

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

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

async function retry<T>(f: () => Promise<T>, tries = 30): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= tries) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

const links = (): string[] => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => l.split(': ')[1].split('@')[0]);
const natRules = (): string => execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });

for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`network (${mode})`, () => {
    let reg: TestRegistry;
    let d: Daemon;
    let ref: string;
    const tag = randomBytes(3).toString('hex');
    const netA = `e2e-a-${tag}`;
    const netC = `e2e-c-${tag}`;
    const subnetA = `10.${150 + randomInt(50)}.${randomInt(256)}.0/24`;
    const subnetC = `10.${150 + randomInt(50)}.${randomInt(256)}.0/24`;
    const names = { a: `alpha-${tag}`, b: `beta-${tag}`, web: `web-${tag}`, web2: `web2-${tag}` };
    let bridges: string[] = [];

    before(async () => {
      reg = await startRegistry();
      ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
      d = await startDaemon({ mode });
      const pull = await d.cli(['pull', ref]);
      assert.equal(pull.code, 0, pull.stderr);
    });
    after(async () => {
      if (d) {
        await d.cli(['rm', '-f', ...Object.values(names)]);
        await d.cli(['network', 'rm', netA, netC]);
        await d.stop();
      }
      for (const b of bridges) if (links().includes(b)) execFileSync('ip', ['link', 'del', b]);
      await reg?.stop();
    });

    test('user networks: create, ls, inspect; overlapping subnet and bad input refused', async () => {
      const c = await d.cli(['network', 'create', '--subnet', subnetA, '--label', 'e2e=1', netA]);
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stdout, /^[0-9a-f]{64}\n$/);
      const ls = await d.cli(['network', 'ls']);
      assert.match(ls.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/m);
      assert.match(ls.stdout, new RegExp(`^[0-9a-f]{12}\\s+${netA}\\s+bridge\\s+local$`, 'm'));
      assert.match(ls.stdout, /\snone\s+null\s/);
      const ins = await d.cli(['network', 'inspect', netA]);
      assert.equal(ins.code, 0, ins.stderr);
      const [n] = JSON.parse(ins.stdout);
      assert.equal(n.Name, netA);
      assert.equal(n.IPAM.Config[0].Subnet, subnetA);
      assert.deepEqual(n.Labels, { e2e: '1' });
      const over = await d.cli(['network', 'create', '--subnet', subnetA, `${netA}-x`]);
      assert.equal(over.code, 1);
      assert.match(over.stderr, /overlaps with network/);
      const dup = await d.cli(['network', 'create', '--subnet', subnetC, netA]);
      assert.match(dup.stderr, /already exists/);
      const bad = await d.cli(['network', 'inspect', 'no-such-net']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /No such network: no-such-net/);
      const cr = await d.cli(['network', 'create', '--subnet', subnetC, netC]);
      assert.equal(cr.code, 0, cr.stderr);
      const bridgesNow = (await d.api('GET', '/networks')).body.filter((x: { Name: string }) => x.Name === netA || x.Name === netC);
      bridges = bridgesNow.map((x: { Id: string }) => `cg-${x.Id.slice(0, 12)}`);
    });

    test('containers on a user network reach each other by name and alias', async () => {
      const a = await d.cli(['run', '-d', '--name', names.a, '--network', netA, '--network-alias', 'db', ref, 'sleep', '300']);
      assert.equal(a.code, 0, a.stderr);
      const b = await d.cli(['run', '-d', '--name', names.b, '--network', netA, ref, 'sleep', '300']);
      assert.equal(b.code, 0, b.stderr);
      for (const target of [names.a, 'db', names.b]) {
        const p = await d.cli(['run', '--rm', '--network', netA, ref, 'ping', '-c', '1', '-W', '5', target]);
        assert.equal(p.code, 0, `ping ${target}: ${p.stdout}${p.stderr}`);
      }
      const ins = JSON.parse((await d.cli(['inspect', names.a])).stdout || 'null') ?? (await d.api('GET', `/containers/${names.a}/json`)).body;
      const info = Array.isArray(ins) ? ins[0] : ins;
      const ep = info.NetworkSettings.Networks[netA];
      assert.ok(ep.IPAddress.startsWith(subnetA.split('.').slice(0, 3).join('.')), JSON.stringify(ep));
      assert.deepEqual(ep.Aliases, ['db']);
      assert.ok(info.NetworkSettings.SandboxKey.includes('/netns/'));
      const rm = await d.cli(['network', 'rm', netA]);
      assert.equal(rm.code, 1);
      assert.match(rm.stderr, /active endpoints/);
    });

    test('connect and disconnect keep the hosts of running containers current', async () => {
      const before = await d.cli(['run', '--rm', '--network', netC, ref, 'ping', '-c', '1', '-W', '2', names.b]);
      assert.notEqual(before.code, 0, 'not resolvable before connect');
      const c = await d.cli(['network', 'connect', '--alias', 'bee', netC, names.b]);
      assert.equal(c.code, 0, c.stderr);
      const p = await d.cli(['run', '--rm', '--network', netC, ref, 'ping', '-c', '1', '-W', '5', 'bee']);
      assert.equal(p.code, 0, p.stdout + p.stderr);
      const hosts = await d.cli(['run', '--rm', '--network', netA, ref, 'cat', '/etc/hosts']);
      assert.match(hosts.stdout, new RegExp(`\\t${names.b}$`, 'm'));
      const dis = await d.cli(['network', 'disconnect', netC, names.b]);
      assert.equal(dis.code, 0, dis.stderr);
      const after = await d.cli(['run', '--rm', '--network', netC, ref, 'ping', '-c', '1', '-W', '2', 'bee']);
      assert.notEqual(after.code, 0);
    });

    test('-p 127.0.0.1:HOSTPORT:80 publishes busybox httpd; port, ps; a taken port is refused', async () => {
      const port = await freePort();
      const r = await d.cli(['run', '-d', '--name', names.web, '-p', `127.0.0.1:${port}:80`, ref, 'httpd', '-f', '-p', '80', '-h', '/etc']);
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim();
      const body = await retry(() => httpGet(port, '/hostname'));
      assert.equal(body.trim(), id.slice(0, 12));
      const pp = await d.cli(['port', names.web]);
      assert.equal(pp.stdout, `80/tcp -> 127.0.0.1:${port}\n`);
      assert.equal((await d.cli(['port', names.web, '80'])).stdout, `127.0.0.1:${port}\n`);
      const ps = await d.cli(['ps']);
      assert.match(ps.stdout, new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp\\s+${names.web}`));
      const taken = await d.cli(['run', '-d', '--name', names.web2, '-p', `${port}:80`, ref, 'sleep', '300']);
      assert.equal(taken.code, 125);
      assert.match(taken.stderr, /port is already allocated/);
      assert.ok(natRules().includes(id), 'portmap rules for the container');
      assert.equal((await d.cli(['rm', '-f', names.web, names.web2])).code === 0 || true, true);
      assert.ok(!natRules().includes(id), 'portmap rules removed with the container');
    });

    test('--network none has only lo; --network host sees the host interfaces', async () => {
      const none = await d.cli(['run', '--rm', '--network', 'none', ref, 'ip', '-o', 'link', 'show']);
      assert.equal(none.code, 0, none.stderr);
      assert.deepEqual(none.stdout.trim().split('\n').map((l) => l.split(': ')[1]), ['lo']);
      const host = await d.cli(['run', '--rm', '--network', 'host', ref, 'ip', '-o', 'link', 'show']);
      assert.equal(host.code, 0, host.stderr);
      const seen = host.stdout.trim().split('\n').map((l) => l.split(': ')[1].split('@')[0]);
      for (const l of links().filter((x) => x === 'lo' || /^(eth|ens|enp)/.test(x))) assert.ok(seen.includes(l), `${l} in ${seen.join(',')}`);
    });

    test('removing containers and networks leaves no veth, netns, rule or IPAM reservation', async () => {
      const ids = [names.a, names.b].map((n) => d.api('GET', `/containers/${n}/json`));
      const full = (await Promise.all(ids)).map((r) => r.body.Id as string);
      assert.equal((await d.cli(['rm', '-f', names.a, names.b])).code, 0);
      for (const n of [netA, netC]) {
        const rm = await d.cli(['network', 'rm', n]);
        assert.equal(rm.code, 0, rm.stderr);
        assert.equal(rm.stdout, `${n}\n`);
      }
      for (const b of bridges) assert.ok(!links().includes(b), `bridge ${b} removed`);
      assert.deepEqual(readdirSync(join(d.run, 'network', 'netns')), []);
      const ipam = join(d.root, 'network', 'ipam');
      for (const n of readdirSync(ipam)) assert.deepEqual(readdirSync(join(ipam, n)).filter((f) => /^\d+\./.test(f)), [], `leases in ${n}`);
      const rules = natRules();
      for (const id of full) assert.ok(!rules.includes(id), 'no nat rule mentions the container');
      const ls = await d.cli(['network', 'ls', '-q']);
      assert.equal(ls.stdout.trim().split('\n').length, 3, 'host, none and the default network remain');
    });
  });
}
