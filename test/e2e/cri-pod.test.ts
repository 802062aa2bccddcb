import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { freePort } from '../harness/registry';
import { mountsUnder, runcList, startDaemon, type Daemon, type Mode } from '../harness/daemon';
import { criClient, type CriClient } from '../harness/cri-client';

/**
 * CRI pod sandboxes with the runc sandboxer against real CNI: pinned net/IPC/UTS namespaces
 * (checked from the outside with nsenter: no container is needed), hostname, sysctls, a host
 * port, no pause image or process, idempotent stop/remove that leave no mount, namespace file,
 * cgroup or iptables rule, bad input refused with nothing left, and pods surviving a congad restart.
 */

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const nsenter = (pod: Info, ...cmd: string[]) => sh('nsenter', [`--net=${pod.netNamespacePath}`, `--ipc=${pod.ipcNamespacePath}`, `--uts=${pod.utsNamespacePath}`, ...cmd]);
const natRules = () => sh('iptables', ['-t', 'nat', '-S']).stdout;
const cgroupDir = (parent: string) => join('/sys/fs/cgroup/memory', parent);

interface Info {
  netNamespacePath: string;
  ipcNamespacePath: string;
  utsNamespacePath: string;
  shmPath: string;
  cgroupParent: string;
  pid: number;
}

function podConfig(name: string, extra: Record<string, any> = {}) {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: name,
    logDirectory: '',
    labels: { app: name, tier: 'test' },
    annotations: { note: 'cri-pod test' },
    ...extra,
  };
}

for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`CRI pod sandboxes (runc sandboxer, ${mode})`, () => {
    let d: Daemon;
    let c: CriClient;
    const status = async (id: string) => {
      const r = await c.runtime.podSandboxStatus({ podSandboxId: id, verbose: true });
      return { status: r.status, info: JSON.parse(r.info.info) as Info };
    };

    before(async () => {
      d = await startDaemon({ mode });
      c = criClient(join(d.run, 'cri.sock'));
    });
    after(async () => {
      // Pods are not Engine API containers: remove them through CRI (CNI DEL) before the daemon goes.
      try {
        const { items } = await c.runtime.listPodSandbox({});
        for (const p of items) await c.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
      } catch {
        /* the daemon is down: its stop() cleans mounts and rules */
      }
      c?.close();
      await d?.stop();
    });

    test('a pod: pinned namespaces, hostname, sysctls, a host port; stop and remove leave nothing', async () => {
      const hostPort = await freePort();
      const { podSandboxId: id } = await c.runtime.runPodSandbox({
        config: podConfig('web', {
          portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort }, { protocol: 'TCP', containerPort: 81, hostPort: 0 }],
          linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' }, resources: { memoryLimitInBytes: 96 << 20, cpuShares: 512 } },
          dnsConfig: { servers: ['10.0.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
        }),
      });
      assert.match(id, /^[0-9a-f]{64}$/);
      const { status: st, info } = await status(id);
      assert.equal(st.state, 'SANDBOX_READY');
      assert.equal(st.metadata.name, 'web');
      assert.match(st.network.ip, /^10\.\d+\.\d+\.\d+$/);
      assert.equal(info.pid, 0);
      for (const [kind, path] of [['net', info.netNamespacePath], ['ipc', info.ipcNamespacePath], ['uts', info.utsNamespacePath]]) {
        assert.ok(path && existsSync(path), `${kind} namespace pinned`);
        // What a process entering the pinned files sees is exactly those namespaces.
        assert.equal(nsenter(info, 'readlink', `/proc/self/ns/${kind}`).stdout.trim(), `${kind}:[${statSync(path).ino}]`);
        assert.notEqual(statSync(path).ino, statSync(`/proc/self/ns/${kind}`).ino, `${kind} is not the host's`);
      }
      assert.equal(nsenter(info, 'hostname').stdout.trim(), 'web');
      assert.match(nsenter(info, 'ip', '-4', 'addr').stdout, new RegExp(`inet ${st.network.ip.replace(/\./g, '\\.')}/`));
      assert.equal(nsenter(info, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start').stdout.trim(), '0');
      assert.equal(nsenter(info, 'cat', '/proc/sys/kernel/shm_rmid_forced').stdout.trim(), '1');
      assert.ok(mountsUnder(info.shmPath).length === 1, '/dev/shm tmpfs mounted');
      assert.ok(existsSync(cgroupDir(info.cgroupParent)), 'pod cgroup made');
      assert.equal(readFileSync(join(cgroupDir(info.cgroupParent), 'memory.limit_in_bytes'), 'utf8').trim(), String(96 << 20));
      assert.equal(readFileSync(join('/sys/fs/cgroup/cpu', info.cgroupParent, 'cpu.shares'), 'utf8').trim(), '512');
      assert.match(natRules(), new RegExp(`--dport ${hostPort}\\b`), 'host port mapped');
      assert.doesNotMatch(natRules(), /--dport 0\b/);
      // No pause image, no process per pod.
      const images = await c.image.listImages({});
      assert.ok(!images.images.some((i: any) => i.repoTags.some((t: string) => /pause/.test(t))));
      assert.deepEqual(runcList(join(d.run, 'executor', 'runc')), []);

      // Duplicate name/uid/namespace/attempt.
      await assert.rejects(c.runtime.runPodSandbox({ config: podConfig('web') }), (e: grpc.ServiceError) => e.code === grpc.status.ALREADY_EXISTS && e.details.includes(`reserved for "${id}"`));

      // Stop: network gone (netns, host port), state NotReady; twice is fine.
      await c.runtime.stopPodSandbox({ podSandboxId: id });
      await c.runtime.stopPodSandbox({ podSandboxId: id });
      assert.equal((await status(id)).status.state, 'SANDBOX_NOTREADY');
      assert.doesNotMatch(natRules(), new RegExp(`--dport ${hostPort}\\b`));
      assert.ok(!existsSync(info.netNamespacePath), 'netns removed at stop');

      // Remove: nothing left; twice is fine; then NotFound.
      await c.runtime.removePodSandbox({ podSandboxId: id });
      await c.runtime.removePodSandbox({ podSandboxId: id });
      await assert.rejects(c.runtime.podSandboxStatus({ podSandboxId: id }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
      assert.deepEqual(mountsUnder(join(d.run, 'cri')), []);
      assert.ok(!existsSync(join(d.run, 'cri', 'pods', id)));
      assert.ok(!existsSync(cgroupDir(info.cgroupParent)), 'pod cgroup removed');
      assert.ok(!natRules().includes(st.network.ip + '/'), 'no CNI rule for the pod address');
    });

    test('list filters (id prefix, state, labels) and hostNetwork pods', async () => {
      const a = (await c.runtime.runPodSandbox({ config: podConfig('a') })).podSandboxId;
      const b = (await c.runtime.runPodSandbox({ config: podConfig('b', { linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'NODE', ipc: 'POD' } } } }) })).podSandboxId;
      try {
        await c.runtime.stopPodSandbox({ podSandboxId: a });
        const ids = async (filter: object) => (await c.runtime.listPodSandbox({ filter })).items.map((p: any) => p.id).sort();
        assert.deepEqual(await ids({}), [a, b].sort());
        assert.deepEqual(await ids({ id: a.slice(0, 12) }), [a]);
        assert.deepEqual(await ids({ state: { state: 'SANDBOX_READY' } }), [b]);
        assert.deepEqual(await ids({ state: { state: 'SANDBOX_NOTREADY' } }), [a]);
        assert.deepEqual(await ids({ labelSelector: { app: 'b', tier: 'test' } }), [b]);
        assert.deepEqual(await ids({ labelSelector: { app: 'nope' } }), []);
        const { status: st, info } = await status(b);
        assert.equal(st.network.ip, '');
        assert.equal(info.netNamespacePath, '');
        assert.equal(info.utsNamespacePath, '', 'a hostNetwork pod keeps the host UTS namespace');
        assert.ok(existsSync(info.ipcNamespacePath));
        assert.equal(st.linux.namespaces.options.network, 'NODE');
      } finally {
        for (const id of [a, b]) await c.runtime.removePodSandbox({ podSandboxId: id });
      }
      assert.deepEqual(mountsUnder(join(d.run, 'cri')), []);
    });

    test('bad input is refused with clear codes and leaves nothing', async () => {
      const bad: Array<[object, number, RegExp]> = [
        [{ config: podConfig('h1'), runtimeHandler: 'kata' }, grpc.status.INVALID_ARGUMENT, /no runtime for "kata" is configured/],
        [{ config: podConfig('s1', { linux: { sysctls: { 'kernel.shm_rmid_forced': '1+kernel.core_pattern=|/tmp/x' } } }) }, grpc.status.INVALID_ARGUMENT, /kernel\.shm_rmid_forced/],
        [{ config: podConfig('s2', { linux: { sysctls: { 'kernel.core_pattern': '/tmp/core' } } }) }, grpc.status.INVALID_ARGUMENT, /only namespaced sysctls/],
        [{ config: podConfig('s3', { linux: { sysctls: { 'net.ipv4.ip_forward': '1' }, securityContext: { namespaceOptions: { network: 'NODE' } } } }) }, grpc.status.INVALID_ARGUMENT, /host network/],
        [{ config: { ...podConfig('m1'), metadata: { name: 'm1', uid: '', namespace: 'default' } } }, grpc.status.INVALID_ARGUMENT, /uid/],
        [{ config: podConfig('bad_host!') }, grpc.status.INVALID_ARGUMENT, /hostname/],
      ];
      for (const [req, code, msg] of bad) {
        await assert.rejects(c.runtime.runPodSandbox(req), (e: grpc.ServiceError) => e.code === code && msg.test(e.details), JSON.stringify(req));
      }
      assert.deepEqual((await c.runtime.listPodSandbox({})).items, []);
      assert.deepEqual(mountsUnder(join(d.run, 'cri')), []);
    });

    test('pods come back after congad restarts (store, namespaces, network)', async () => {
      const { podSandboxId: id } = await c.runtime.runPodSandbox({ config: podConfig('survivor') });
      const before = await status(id);
      c.close();
      await d.killEngine();
      await d.startEngine();
      c = criClient(join(d.run, 'cri.sock'));
      const after = await status(id);
      assert.equal(after.status.state, 'SANDBOX_READY');
      assert.equal(after.status.network.ip, before.status.network.ip);
      assert.equal(nsenter(after.info, 'hostname').stdout.trim(), 'survivor');
      assert.match(nsenter(after.info, 'ip', '-4', 'addr').stdout, new RegExp(`inet ${before.status.network.ip.replace(/\./g, '\\.')}/`), 'the engine did not reap the pod network');
      await c.runtime.removePodSandbox({ podSandboxId: id });
      assert.ok(!existsSync(before.info.netNamespacePath));
      assert.deepEqual(mountsUnder(join(d.run, 'cri')), []);
    });
  });
}
