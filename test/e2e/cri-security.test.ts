import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';
import { criClient, type CriClient } from '../harness/cri-client';

/**
 * The CRI security context and resources really applied by runc: run_as_user/group,
 * supplemental groups, read-only rootfs, capabilities (drop ALL + add), no_new_privs, masked
 * paths, limits in the cgroup files, a bind mount with its read-only flag, and pid NODE/POD.
 * In split mode, so the pod namespace paths also cross the executor-service's gRPC.
 */

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('CRI security context (split mode: the spec crosses the executor gRPC)', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let cri: CriClient;
  let ref: string;
  let tmp: string;
  let podId: string;
  let podConfig: Record<string, unknown>;

  const run = async (name: string, linux: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const config = { metadata: { name, attempt: 0 }, image: { image: ref }, command: ['sleep', '300'], linux, ...extra };
    const { containerId } = await cri.runtime.createContainer({ podSandboxId: podId, config, sandboxConfig: podConfig });
    await cri.runtime.startContainer({ containerId });
    return containerId as string;
  };
  const sh = async (id: string, script: string) => {
    const r = await cri.runtime.execSync({ containerId: id, cmd: ['sh', '-c', script], timeout: 10 });
    return { out: Buffer.from(r.stdout).toString().trim(), err: Buffer.from(r.stderr).toString(), code: r.exitCode as number };
  };
  const pidOf = async (id: string) => JSON.parse((await cri.runtime.containerStatus({ containerId: id, verbose: true })).info.info).pid as number;
  const cgroupFile = (pid: number, ctrl: string, file: string) => {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(ctrl))!;
    // The hierarchy's directory is named after its controllers ("cpu" or "cpu,cpuacct").
    return readFileSync(join('/sys/fs/cgroup', line.split(':')[1], line.split(':')[2], file), 'utf8').trim();
  };

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'split' });
    tmp = mkdtempSync(join(tmpdir(), 'cri-sec-'));
    writeFileSync(join(tmp, 'marker'), 'from the host\n');
    const sock = join(d.run, 'cri.sock');
    await until('the CRI socket', () => existsSync(sock));
    cri = criClient(sock);
    await cri.image.pullImage({ image: { image: ref } });
    podConfig = { metadata: { name: 'sec', uid: 'uid-sec', namespace: 'default', attempt: 0 }, hostname: 'sec', logDirectory: join(tmp, 'logs') };
    podId = (await cri.runtime.runPodSandbox({ config: podConfig })).podSandboxId;
  });
  after(async () => {
    if (cri && podId) {
      await cri.runtime.stopPodSandbox({ podSandboxId: podId }).catch(() => undefined);
      await cri.runtime.removePodSandbox({ podSandboxId: podId }).catch(() => undefined);
    }
    cri?.close();
    await d?.stop();
    await reg?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('user, groups, read-only rootfs, capabilities, no_new_privs, masked paths', async () => {
    const id = await run('locked', {
      securityContext: {
        runAsUser: { value: 1000 }, runAsGroup: { value: 1001 }, supplementalGroups: [2000],
        readonlyRootfs: true, noNewPrivs: true,
        capabilities: { dropCapabilities: ['ALL'], addCapabilities: ['NET_BIND_SERVICE'] },
        maskedPaths: ['/proc/keys'], readonlyPaths: ['/proc/sys'],
        namespaceOptions: { pid: 'CONTAINER' },
      },
    });
    assert.equal((await sh(id, 'id -u')).out, '1000');
    assert.equal((await sh(id, 'id -g')).out, '1001');
    assert.ok((await sh(id, 'id -G')).out.split(' ').includes('2000'));
    assert.notEqual((await sh(id, 'touch /made 2>/dev/null')).code, 0, 'read-only rootfs');
    const status = (await sh(id, 'cat /proc/self/status')).out;
    // Run as uid 1000, the effective set is empty; the bounding set is NET_BIND_SERVICE (bit 10).
    assert.match(status, /^CapBnd:\s+0000000000000400$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.match(status, /^Seccomp:\s+0$/m, 'no profile asked for: unconfined, as containerd');
    // /proc/keys exists on every kernel and is world-readable: masked, it is /dev/null.
    assert.equal((await sh(id, '[ -c /proc/keys ] && echo masked')).out, 'masked', 'masked path: /dev/null over it');
    // The lists are used as given (critest MaskedPaths/ReadonlyPaths): not docker's defaults.
    const own = await run('paths', { securityContext: { maskedPaths: ['/etc/group'], readonlyPaths: ['/tmp'], namespaceOptions: { pid: 'CONTAINER' } } });
    assert.equal((await sh(own, '[ -c /etc/group ] && echo masked')).out, 'masked');
    assert.match((await sh(own, 'touch /tmp/x')).err, /Read-only file system/);
    assert.equal((await sh(own, '[ -c /proc/keys ] || echo visible')).out, 'visible', 'a default masked path not in the list');
  });

  test('limits land in the cgroup files; a read-only bind mount; privileged sees all caps', async () => {
    const id = await run('limited', {
      resources: { memoryLimitInBytes: 64 * 1024 * 1024, cpuPeriod: 100000, cpuQuota: 50000, cpuShares: 256 },
      securityContext: { namespaceOptions: { pid: 'CONTAINER' }, seccomp: { profileType: 'RuntimeDefault' } },
    }, { mounts: [{ containerPath: '/host-tmp', hostPath: tmp, readonly: true }] });
    const pid = await pidOf(id);
    assert.equal(cgroupFile(pid, 'memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    assert.equal(cgroupFile(pid, 'memory', 'memory.memsw.limit_in_bytes').length > 0, true);
    assert.equal(cgroupFile(pid, 'cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(cgroupFile(pid, 'cpu', 'cpu.shares'), '256');
    assert.equal((await sh(id, 'cat /host-tmp/marker')).out, 'from the host');
    assert.match((await sh(id, 'cat /proc/self/status')).out, /^Seccomp:\s+2$/m, 'RuntimeDefault: the default profile (filter mode)');
    assert.notEqual((await sh(id, 'touch /host-tmp/x 2>/dev/null')).code, 0, 'the mount is read-only');
    const priv = await run('priv', { securityContext: { privileged: true, namespaceOptions: { pid: 'CONTAINER' } } });
    const hostBnd = readFileSync('/proc/self/status', 'utf8').match(/^CapBnd:\s+(\S+)$/m)![1];
    assert.match((await sh(priv, 'cat /proc/self/status')).out, new RegExp(`^CapEff:\\s+${hostBnd}$`, 'm'), 'every capability the host has');
  });

  test('pid POD: containers of the pod see each other; TARGET joins one; NODE is the host', async () => {
    const first = await run('pidpod1', { securityContext: { namespaceOptions: { pid: 'POD' } } });
    const second = await run('pidpod2', { securityContext: { namespaceOptions: { pid: 'POD' } } });
    assert.equal(readlinkSync(`/proc/${await pidOf(first)}/ns/pid`), readlinkSync(`/proc/${await pidOf(second)}/ns/pid`));
    assert.equal((await sh(second, 'ps -o comm | grep -c sleep')).out, '2', 'both sleeps are visible');
    // kubectl debug --target: an otherwise private container joins the target's pid namespace.
    const lone = await run('pidlone', { securityContext: { namespaceOptions: { pid: 'CONTAINER' } } });
    const dbg = await run('piddebug', { securityContext: { namespaceOptions: { pid: 'TARGET', targetId: lone.slice(0, 12) } } });
    assert.equal(readlinkSync(`/proc/${await pidOf(dbg)}/ns/pid`), readlinkSync(`/proc/${await pidOf(lone)}/ns/pid`));
    const host = await run('pidnode', { securityContext: { namespaceOptions: { pid: 'NODE' } } });
    assert.equal(readlinkSync(`/proc/${await pidOf(host)}/ns/pid`), readlinkSync('/proc/self/ns/pid'));
  });
});
