import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { purgeCniRules, startDaemon, type Daemon } from '../harness/daemon';

/**
 * The network service's Done-when chaos check (split mode): kill -9 of conga-network-service
 * while 20 `run -d` on a user network are in flight. Afterwards every container either runs with
 * an address of its own (seen inside its netns and pinged from the host through the bridge) or
 * failed cleanly; no lease outlives the containers that hold it; after `rm -f` nothing of the
 * network is left: no veth on the bridge, no netns, no lease, no attachment, no iptables rule.
 */

const RUNS = 20;
/** Containers started before the storm: they must keep running with their address through it. */
const EARLY = 3;

async function until<T>(what: string, f: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ls = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

describe('network chaos (split): kill -9 of the network service during concurrent runs', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;
  const tag = randomBytes(3).toString('hex');
  const net = `chaos-${tag}`;
  const subnet = `10.${150 + randomInt(50)}.${randomInt(256)}.0/24`;
  const prefix = subnet.split('.').slice(0, 3).join('.') + '.';
  let bridge = '';
  const names = Array.from({ length: EARLY + RUNS }, (_, i) => `chaos-${tag}-${i}`);
  const again = `chaos-${tag}-again`;
  let serviceDown = false;

  const leases = () => ls(join(d.root, 'network', 'ipam', net)).filter((f) => f.startsWith(prefix));
  const netnsFiles = () => ls(join(d.run, 'network', 'netns'));
  const attachments = () => ls(join(d.root, 'network', 'attachments')).filter((f) => f.endsWith('.json'));
  const veths = () => execFileSync('ip', ['-o', 'link', 'show', 'master', bridge], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const rulesOfSubnet = () =>
    ['nat', 'filter'].flatMap((t) => execFileSync('iptables', ['-w', '-t', t, '-S'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(prefix)));

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'split' });
    const pull = await d.cli(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    const c = await d.cli(['network', 'create', '--subnet', subnet, net]);
    assert.equal(c.code, 0, c.stderr);
    bridge = `cg-${c.stdout.trim().slice(0, 12)}`;
  });
  after(async () => {
    if (d) {
      if (serviceDown) await d.startService('network').catch(() => undefined);
      await d.cli(['rm', '-f', ...names, again]);
      await d.cli(['network', 'rm', net]);
      await d.stop();
    }
    purgeCniRules(subnet);
    if (bridge) spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    await reg?.stop();
  });

  test('every container runs with its own address or failed cleanly; nothing leaks after rm -f', async (t) => {
    const run = (n: string) => d.cli(['run', '-d', '--name', n, '--network', net, ref, 'sleep', '300'], { timeoutMs: 120_000 });
    const early = [];
    for (const n of names.slice(0, EARLY)) early.push(await run(n));
    const runs = names.slice(EARLY).map(run);
    // Kill while attaches are in flight: a quarter have written their record, at least one has
    // pinned its netns but not written its record yet.
    await until('attaches in flight', () => attachments().length >= EARLY + RUNS / 4 && netnsFiles().length > attachments().length, 60_000);
    serviceDown = true;
    await d.killService('network');
    const results = [...early, ...(await Promise.all(runs))];
    for (const [i, r] of early.entries()) assert.equal(r.code, 0, `${names[i]} started before the kill: ${r.stderr}`);
    await d.startService('network');
    serviceDown = false;

    const list = (await d.api('GET', '/containers/json?all=1')).body as { Id: string; Names: string[]; State: string }[];
    const byName = new Map(list.map((c) => [c.Names[0].replace(/^\//, ''), c]));
    const running: { name: string; id: string; ip: string }[] = [];
    for (const [i, r] of results.entries()) {
      const c = byName.get(names[i]);
      if (r.code === 0) {
        assert.equal(c?.State, 'running', `${names[i]}: run succeeded, so it runs`);
      } else {
        assert.ok(r.stderr.trim().length > 0, `${names[i]} failed with an error message`);
        assert.notEqual(c?.State, 'running', `${names[i]}: a failed run does not leave it running`);
        continue;
      }
      const info = (await d.api('GET', `/containers/${c!.Id}/json`)).body;
      const inNs = execFileSync('nsenter', [`--net=/proc/${info.State.Pid}/ns/net`, 'ip', '-4', '-o', 'addr', 'show', 'eth0'], { encoding: 'utf8' });
      const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(inNs)?.[1] ?? '';
      assert.ok(ip.startsWith(prefix), `${names[i]} has an address of ${subnet} inside its netns: ${inNs}`);
      assert.equal(info.NetworkSettings.Networks[net].IPAddress, ip, 'inspect shows the address the netns has');
      running.push({ name: names[i], id: c!.Id, ip });
    }
    for (const n of names.slice(0, EARLY)) assert.ok(running.some((r) => r.name === n), `${n}, started before the kill, still runs`);
    assert.ok(running.length < EARLY + RUNS, 'the kill hit runs in flight');
    t.diagnostic(`${running.length - EARLY} of ${RUNS} concurrent runs succeeded around the kill`);
    assert.equal(new Set(running.map((r) => r.ip)).size, running.length, `addresses are unique: ${running.map((r) => r.ip).join(' ')}`);
    for (const r of running) {
      const p = spawnSync('busybox', ['ping', '-c', '1', '-W', '5', r.ip], { encoding: 'utf8' });
      assert.equal(p.status, 0, `ping ${r.name} at ${r.ip} from the host: ${p.stdout}${p.stderr}`);
    }
    // Attaches interrupted by the kill are undone once the service is back: one lease, one
    // netns and one attachment per running container.
    await until('interrupted attaches to be released', () => leases().length === running.length && netnsFiles().length === running.length && attachments().length === running.length).catch((e) => {
      throw new Error(`${(e as Error).message}: ${running.length} running, leases ${leases().length}, netns ${netnsFiles().length}, attachments ${attachments().length}`);
    });

    const a = await d.cli(['run', '-d', '--name', again, '--network', net, ref, 'sleep', '300']);
    assert.equal(a.code, 0, `run works again after the restart: ${a.stderr}`);

    const rm = await d.cli(['rm', '-f', ...names.filter((n) => byName.has(n)), again]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(veths(), [], `no veth left on ${bridge}`);
    assert.deepEqual(netnsFiles(), [], 'no netns left');
    assert.deepEqual(leases(), [], 'no host-local lease left');
    assert.deepEqual(attachments(), [], 'no attachment record left');
    assert.deepEqual(rulesOfSubnet(), [], `no iptables rule mentions ${subnet}`);
  });
});
