import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, newContext } from '@conga/common';
import type { NetworkService } from '@conga/api';
import { runCommand } from './util/run-command';

/** What a conformance run needs: a service (with its default bridge network) and its cleanup. */
export interface ConformanceTarget {
  svc: NetworkService;
  cleanup(): Promise<void>;
}

/** Run a command inside a pinned netns (nsenter), returning stdout; fails the test on error. */
export async function inNetns(netnsPath: string, args: string[]): Promise<string> {
  const r = await runCommand('nsenter', [`--net=${netnsPath}`, ...args], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `nsenter ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

let seq = 0;
const newId = (tag: string) => `conf-${tag}-${process.pid}-${++seq}-${Date.now().toString(36)}`;

/**
 * The NetworkService contract, as node:test tests. Run it against every implementation (in
 * process and through the gRPC proxy). Root only; uses real netns and CNI plugins. Each test
 * detaches what it attached. Owned by the network service; tests may be added.
 */
export function conformance(name: string, make: () => Promise<ConformanceTarget>): void {
  const setup = async (t: { after(fn: () => Promise<void>): void }) => {
    const target = await make();
    const files = await mkdtemp(join(tmpdir(), 'conga-net-files-'));
    const ids: string[] = [];
    t.after(async () => {
      for (const id of ids) await target.svc.detach({ containerId: id }, newContext()).catch(() => undefined);
      await target.cleanup();
      await rm(files, { recursive: true, force: true });
    });
    const id = (tag: string) => {
      const v = newId(tag);
      ids.push(v);
      return v;
    };
    const dirFor = async (cid: string) => {
      const d = join(files, cid);
      await mkdir(d);
      return d;
    };
    return { svc: target.svc, id, dirFor };
  };

  test(`${name}: "none" pins no netns (the runtime makes one), writes the files, attach is idempotent, detach removes it`, async (t) => {
    const { svc, id, dirFor } = await setup(t);
    const cid = id('none');
    const filesDir = await dirFor(cid);
    const ctx = newContext();
    const a = await svc.attach({ containerId: cid, network: 'none', hostname: 'box1', filesDir }, ctx);
    assert.equal(a.containerId, cid);
    assert.equal(a.network, 'none');
    assert.equal(a.netnsPath, '', 'no pinned netns: "" asks the executor for a new one');
    assert.deepEqual(a.interfaces, []);
    assert.equal(await readFile(a.hostnamePath, 'utf8'), 'box1\n');
    assert.match(await readFile(a.hostsPath, 'utf8'), /^127\.0\.0\.1\tlocalhost$/m);
    assert.doesNotMatch(await readFile(a.resolvConfPath, 'utf8'), /nameserver 127\./);

    assert.deepEqual(await svc.attach({ containerId: cid, network: 'none', hostname: 'box1', filesDir }, ctx), a);
    assert.deepEqual(await svc.getAttachment({ containerId: cid }, ctx), a);
    assert.ok((await svc.listAttachments({}, ctx)).attachments.some((x) => x.containerId === cid));
    await assert.rejects(svc.attach({ containerId: cid, network: 'host', filesDir }, ctx), (e) => E.AttachmentConflict.is(e));
    // Like docker: a "none" container cannot be connected, and its private netns cannot be joined.
    await assert.rejects(svc.connect({ containerId: cid, endpoint: { network: 'conga0' } }, ctx), (e: Error) => E.InvalidArgument.is(e) && /"none"/.test(e.message));
    await assert.rejects(svc.attach({ containerId: id('join'), network: `container:${cid}` }, ctx), (e: Error) => E.InvalidArgument.is(e) && /"none"/.test(e.message));

    assert.deepEqual(await svc.detach({ containerId: cid }, ctx), {});
    await assert.rejects(svc.getAttachment({ containerId: cid }, ctx), (e) => E.AttachmentNotFound.is(e));
    assert.ok(!(await svc.listAttachments({}, ctx)).attachments.some((x) => x.containerId === cid));
    await svc.detach({ containerId: cid }, ctx); // idempotent
  });

  test(`${name}: "host" has no netns and copies the host's files, with extra hosts and dns`, async (t) => {
    const { svc, id, dirFor } = await setup(t);
    const cid = id('host');
    const filesDir = await dirFor(cid);
    const a = await svc.attach({ containerId: cid, network: 'host', hostname: 'hosty', filesDir, extraHosts: ['db:10.1.2.3', 'v6:fd00::1'], dns: ['10.9.9.9'], dnsSearch: ['example.test'] }, newContext());
    assert.equal(a.netnsPath, '');
    assert.deepEqual(a.interfaces, []);
    const hosts = await readFile(a.hostsPath, 'utf8');
    assert.match(hosts, /^10\.1\.2\.3\tdb$/m);
    assert.match(hosts, /^fd00::1\tv6$/m);
    const resolv = await readFile(a.resolvConfPath, 'utf8');
    assert.match(resolv, /^nameserver 10\.9\.9\.9$/m);
    assert.match(resolv, /^search example\.test$/m);
    assert.equal(await readFile(a.hostnamePath, 'utf8'), 'hosty\n');
  });

  test(`${name}: bad input is refused with a clear error and leaves nothing behind`, async (t) => {
    const { svc, id, dirFor } = await setup(t);
    const ctx = newContext();
    const cid = id('bad');
    const filesDir = await dirFor(cid);
    await assert.rejects(svc.attach({ containerId: cid, network: 'no-such-net', filesDir }, ctx), (e: Error) => E.NetworkNotFound.is(e) && /no-such-net/.test(e.message));
    await assert.rejects(svc.attach({ containerId: '../evil', network: 'none', filesDir }, ctx), (e) => E.InvalidArgument.is(e));
    await assert.rejects(svc.attach({ containerId: '', network: 'none' }, ctx), (e) => E.InvalidArgument.is(e));
    await assert.rejects(svc.attach({ containerId: cid, network: 'none', filesDir, extraHosts: ['nocolon'] }, ctx), (e: Error) => E.InvalidArgument.is(e) && /nocolon/.test(e.message));
    await assert.rejects(svc.attach({ containerId: cid, network: 'none', filesDir, dns: ['not-an-ip'] }, ctx), (e: Error) => E.InvalidArgument.is(e) && /not-an-ip/.test(e.message));
    await assert.rejects(svc.attach({ containerId: cid, network: 'none', filesDir: 'relative/dir' }, ctx), (e) => E.InvalidArgument.is(e));
    await assert.rejects(svc.attach({ containerId: cid, network: 'none', hostname: 'bad host', filesDir }, ctx), (e) => E.InvalidArgument.is(e));
    // host-gateway needs a gateway: "none" has none.
    await assert.rejects(svc.attach({ containerId: cid, network: 'none', filesDir, extraHosts: ['gw:host-gateway'] }, ctx), (e) => E.InvalidArgument.is(e));
    await assert.rejects(svc.getAttachment({ containerId: cid }, ctx), (e) => E.AttachmentNotFound.is(e));
    assert.ok(!(await svc.listAttachments({}, ctx)).attachments.some((x) => x.containerId === cid));
    assert.deepEqual(await readdir(filesDir), [], 'no files written');
    // and the container can still be attached afterwards
    const a = await svc.attach({ containerId: cid, network: 'none', filesDir }, ctx);
    assert.equal(a.network, 'none');
    assert.equal(await readFile(a.hostnamePath, 'utf8'), `${cid.slice(0, 12)}\n`);
  });

  test(`${name}: the default bridge network gives each container its own eth0 address and they can talk`, async (t) => {
    const { svc, id, dirFor } = await setup(t);
    const ctx = newContext();
    const [c1, c2] = [id('br1'), id('br2')];
    const [d1, d2] = [await dirFor(c1), await dirFor(c2)];
    // concurrent attaches of different containers, and a duplicate attach of the same one
    const [a1, a2, a1again] = await Promise.all([
      svc.attach({ containerId: c1, network: '', hostname: 'one', filesDir: d1, extraHosts: ['gw:host-gateway'] }, ctx),
      svc.attach({ containerId: c2, network: '', hostname: 'two', filesDir: d2 }, ctx),
      svc.attach({ containerId: c1, network: '', hostname: 'one', filesDir: d1, extraHosts: ['gw:host-gateway'] }, ctx),
    ]);
    assert.deepEqual(a1again, a1);
    for (const a of [a1, a2]) {
      assert.equal(a.interfaces.length, 1);
      assert.equal(a.interfaces[0].name, 'eth0');
      assert.match(a.interfaces[0].mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      assert.equal(a.interfaces[0].addresses.length, 1);
      assert.ok(a.interfaces[0].gateway, 'has a gateway');
    }
    const ip1 = a1.interfaces[0].addresses[0].split('/')[0];
    const ip2 = a2.interfaces[0].addresses[0].split('/')[0];
    assert.notEqual(ip1, ip2);
    assert.match(await inNetns(a1.netnsPath, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']), new RegExp(`inet ${ip1.replace(/\./g, '\\.')}/`));
    const hosts = await readFile(a1.hostsPath, 'utf8');
    assert.match(hosts, new RegExp(`^${ip1.replace(/\./g, '\\.')}\\tone$`, 'm'));
    assert.match(hosts, new RegExp(`^${a1.interfaces[0].gateway.replace(/\./g, '\\.')}\\tgw$`, 'm'));
    // traffic between the two namespaces this test created
    const ping = await runCommand('nsenter', [`--net=${a1.netnsPath}`, '/bin/busybox', 'ping', '-c', '1', '-W', '5', ip2], { timeoutMs: 60_000 });
    assert.equal(ping.code, 0, `ping ${ip2} from ${ip1}: ${ping.stdout}${ping.stderr}`);

    await svc.detach({ containerId: c1 }, ctx);
    await svc.detach({ containerId: c2 }, ctx);
    await assert.rejects(stat(a1.netnsPath), { code: 'ENOENT' });
    await assert.rejects(stat(a2.netnsPath), { code: 'ENOENT' });
  });
}
