import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { runcList, startDaemon, type Daemon } from '../harness/daemon';
import { criClient, type CriClient } from '../harness/cri-client';

/**
 * CRI containers in pods through a real congad (all-in-one) and its CRI socket: namespaces
 * shared with the pod, ExecSync, CRI-format logs at log_path, list filters, stats, events,
 * live resource updates, stop/remove, bad input, and a kill -9 of congad while a pod runs.
 */

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** The gRPC status code of a rejected call. */
async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    return (e as { code: number }).code;
  }
  return 0;
}

const GRPC = { InvalidArgument: 3, DeadlineExceeded: 4, NotFound: 5, AlreadyExists: 6, FailedPrecondition: 9 };

describe('CRI containers (all-in-one)', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let cri: CriClient;
  let ref: string;
  let digestRef: string;
  let logs: string;
  let n = 0;

  const podConfig = (name: string, extra: Record<string, unknown> = {}) => ({
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: `host-${name}`,
    logDirectory: join(logs, name),
    dnsConfig: { servers: ['10.9.9.9'], searches: ['example.test'], options: ['ndots:2'] },
    linux: { securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  });
  const runPod = async (name: string, extra: Record<string, unknown> = {}) => {
    const config = podConfig(name, extra);
    const { podSandboxId } = await cri.runtime.runPodSandbox({ config });
    return { id: podSandboxId as string, config };
  };
  const ctrConfig = (name: string, command: string[], extra: Record<string, unknown> = {}) => ({
    metadata: { name, attempt: 0 },
    image: { image: ref },
    command,
    logPath: `${name}/0.log`,
    linux: { securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  });
  const create = async (pod: { id: string; config: object }, cfg: object) =>
    (await cri.runtime.createContainer({ podSandboxId: pod.id, config: cfg, sandboxConfig: pod.config })).containerId as string;
  const status = async (id: string) => (await cri.runtime.containerStatus({ containerId: id, verbose: true })) as { status: any; info: Record<string, string> };
  const pidOf = async (id: string) => JSON.parse((await status(id)).info.info).pid as number;
  const exec = async (id: string, cmd: string[], timeout = 10) => {
    const r = await cri.runtime.execSync({ containerId: id, cmd, timeout });
    return { stdout: Buffer.from(r.stdout).toString(), stderr: Buffer.from(r.stderr).toString(), exitCode: r.exitCode as number };
  };
  const cleanupPod = async (id: string) => {
    await cri.runtime.stopPodSandbox({ podSandboxId: id }).catch(() => undefined);
    await cri.runtime.removePodSandbox({ podSandboxId: id }).catch(() => undefined);
  };

  before(async () => {
    reg = await startRegistry();
    ({ reference: ref, digestReference: digestRef } = await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage()));
    d = await startDaemon({ mode: 'all-in-one' });
    logs = mkdtempSync(join(tmpdir(), 'cri-logs-'));
    const sock = join(d.run, 'cri.sock');
    await until('the CRI socket', () => existsSync(sock));
    cri = criClient(sock);
    await cri.image.pullImage({ image: { image: ref } });
  });
  after(async () => {
    if (cri) {
      const { items } = await cri.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
      for (const p of items ?? []) await cleanupPod(p.id);
      cri.close();
    }
    await d?.stop();
    await reg?.stop();
    if (logs) rmSync(logs, { recursive: true, force: true });
  });

  test('two containers share the pod net/ipc/uts namespaces; ExecSync, logs, DNS, list, stats', async () => {
    const pod = await runPod(`p${n++}`);
    const a = await create(pod, ctrConfig('a', ['sh', '-c', 'echo out; echo err >&2; exec sleep 300']));
    const b = await create(pod, ctrConfig('b', ['sleep', '300'], { labels: { role: 'side' } }));
    for (const id of [a, b]) await cri.runtime.startContainer({ containerId: id });
    for (const id of [a, b]) assert.equal((await status(id)).status.state, 'CONTAINER_RUNNING');
    const [pa, pb] = [await pidOf(a), await pidOf(b)];
    for (const ns of ['net', 'ipc', 'uts']) assert.equal(readlinkSync(`/proc/${pa}/ns/${ns}`), readlinkSync(`/proc/${pb}/ns/${ns}`), `${ns} is shared`);
    for (const ns of ['net', 'ipc', 'uts']) assert.notEqual(readlinkSync(`/proc/${pa}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), `${ns} is not the host's`);
    assert.notEqual(readlinkSync(`/proc/${pa}/ns/pid`), readlinkSync(`/proc/${pb}/ns/pid`), 'pid CONTAINER: a pid namespace each');

    // ExecSync: both streams and the exit code; the pod's hostname and DNS config.
    assert.deepEqual(await exec(a, ['sh', '-c', 'echo o; echo e >&2; exit 3']), { stdout: 'o\n', stderr: 'e\n', exitCode: 3 });
    assert.equal((await exec(b, ['hostname'])).stdout, `host-${pod.config.metadata.name}\n`);
    const resolv = (await exec(b, ['cat', '/etc/resolv.conf'])).stdout;
    assert.match(resolv, /^nameserver 10\.9\.9\.9$/m);
    assert.match(resolv, /^search example\.test$/m);
    assert.match(resolv, /^options ndots:2$/m);

    // The log in CRI format at log_directory/log_path.
    const logPath = join(pod.config.logDirectory, 'a/0.log');
    assert.equal((await status(a)).status.logPath, logPath);
    await until('both log lines', () => existsSync(logPath) && readFileSync(logPath, 'utf8').includes(' stderr F err'));
    const lines = readFileSync(logPath, 'utf8').trim().split('\n');
    assert.ok(lines.some((l) => /^\d{4}-\d\d-\d\dT\S+ stdout F out$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^\d{4}-\d\d-\d\dT\S+ stderr F err$/.test(l)), lines.join('\n'));

    // Listed by CRI (with filters) and by `conga ps` alike.
    const ids = async (filter: object) => ((await cri.runtime.listContainers({ filter })).containers as { id: string }[]).map((c) => c.id).sort();
    assert.deepEqual(await ids({ podSandboxId: pod.id }), [a, b].sort());
    assert.deepEqual(await ids({ podSandboxId: pod.id, labelSelector: { role: 'side' } }), [b]);
    assert.deepEqual(await ids({ id: a.slice(0, 12) }), [a]);
    assert.deepEqual(await ids({ podSandboxId: pod.id, state: { state: 'CONTAINER_EXITED' } }), []);
    const ps = await d.cli(['ps', '-q', '--no-trunc']);
    assert.ok(ps.stdout.includes(a) && ps.stdout.includes(b), ps.stdout);
    const inspected = await d.api('GET', `/containers/${a}/json`);
    assert.equal(inspected.status, 200, 'the Engine API inspects a pod container too');
    const listed = (await cri.runtime.listContainers({ filter: { id: b } })).containers[0];
    assert.deepEqual(listed.labels, { role: 'side' });
    assert.deepEqual(listed.metadata, { name: 'b', attempt: 0 });

    // imageRef: the repo digest in ContainerStatus, the image id in ListContainers (as containerd).
    const sa = (await status(a)).status;
    assert.equal(sa.imageRef, digestRef);
    assert.match(listed.imageRef, /^sha256:[0-9a-f]{64}$/);
    assert.equal(listed.imageRef, sa.imageId);
    // PodSandboxStatus carries the statuses of the pod's containers, as ContainerStatus gives them.
    const podStatus = (await cri.runtime.podSandboxStatus({ podSandboxId: pod.id })) as { containersStatuses: any[] };
    assert.deepEqual(podStatus.containersStatuses.map((x) => x.id).sort(), [a, b].sort());
    const inPod = podStatus.containersStatuses.find((x) => x.id === a);
    assert.deepEqual(inPod, sa);

    // Stats.
    const { stats } = await cri.runtime.containerStats({ containerId: a });
    assert.ok(stats.cpu.usageCoreNanoSeconds.value > 0, 'cpu used');
    assert.ok(stats.memory.workingSetBytes.value > 0, 'memory used');
    assert.ok(stats.writableLayer.usedBytes, 'writable layer usage reported');
    const { stats: all } = await cri.runtime.listContainerStats({ filter: { podSandboxId: pod.id } });
    assert.equal(all.length, 2);
    const podStats = (await cri.runtime.podSandboxStats({ podSandboxId: pod.id })).stats;
    assert.equal(podStats.linux.containers.length, 2);
    assert.ok(podStats.linux.memory.workingSetBytes.value > 0 && podStats.linux.cpu.usageCoreNanoSeconds.value > 0);
    assert.deepEqual((await cri.runtime.listPodSandboxStats({ filter: { id: pod.id } })).stats.map((x: { attributes: { id: string } }) => x.attributes.id), [pod.id]);
    assert.deepEqual((await cri.runtime.listMetricDescriptors({})).descriptors, []);

    // Live update: the cgroup file changes.
    const memFile = () => {
      const line = readFileSync(`/proc/${pb}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))!;
      return join('/sys/fs/cgroup/memory', line.split(':')[2], 'memory.limit_in_bytes');
    };
    await cri.runtime.updateContainerResources({ containerId: b, linux: { memoryLimitInBytes: 96 * 1024 * 1024 } });
    assert.equal(readFileSync(memFile(), 'utf8').trim(), String(96 * 1024 * 1024));
    assert.equal((await status(b)).status.resources.linux.memoryLimitInBytes, 96 * 1024 * 1024);

    // Stop (timeout 0 kills at once), remove twice.
    await cri.runtime.stopContainer({ containerId: b, timeout: 0 });
    const sb = (await status(b)).status;
    assert.equal(sb.state, 'CONTAINER_EXITED');
    assert.equal(sb.exitCode, 137);
    assert.equal(sb.reason, 'Error');
    assert.ok(sb.finishedAt >= sb.startedAt && sb.startedAt > 0);
    assert.equal(await code(cri.runtime.startContainer({ containerId: b })), GRPC.FailedPrecondition, 'an exited container is not restarted');
    await cri.runtime.removeContainer({ containerId: b });
    await cri.runtime.removeContainer({ containerId: b });
    assert.equal(await code(cri.runtime.containerStatus({ containerId: b })), GRPC.NotFound);
    assert.ok(!runcList(join(d.run, 'executor', 'runc')).some((c) => c.id === b), 'no runc state left');
    await cleanupPod(pod.id);
  });

  test('a completed container: exit code 0, reason Completed; events stream', async () => {
    const seen: Array<{ id: string; type: string; pod?: string; statuses: string[] }> = [];
    const stream = cri.events();
    stream.on('data', (ev: { containerId: string; containerEventType: string; podSandboxStatus: { id: string } | null; containersStatuses: { id: string }[] }) =>
      seen.push({ id: ev.containerId, type: ev.containerEventType, pod: ev.podSandboxStatus?.id, statuses: ev.containersStatuses.map((x) => x.id) }));
    stream.on('error', () => undefined);
    try {
      const pod = await runPod(`p${n++}`);
      const c = await create(pod, ctrConfig('once', ['true']));
      await cri.runtime.startContainer({ containerId: c });
      await until('the container to exit', async () => (await status(c)).status.state === 'CONTAINER_EXITED');
      const s = (await status(c)).status;
      assert.equal(s.exitCode, 0);
      assert.equal(s.reason, 'Completed');
      await cri.runtime.removeContainer({ containerId: c });
      const want = ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];
      await until('the four events', () => want.every((t) => seen.some((e) => e.id === c && e.type === t)));
      assert.deepEqual(seen.filter((e) => e.id === c).map((e) => e.type), want);
      const created = seen.find((e) => e.id === c)!;
      assert.equal(created.pod, pod.id, 'events carry the pod status');
      assert.deepEqual(created.statuses, [c], 'and the statuses of the pod containers');
      await cleanupPod(pod.id);
    } finally {
      stream.cancel();
    }
  });

  test('ReopenContainerLog after a rotation; Exec/Attach/PortForward give streaming URLs', async () => {
    const pod = await runPod(`p${n++}`);
    const c = await create(pod, ctrConfig('ticker', ['sh', '-c', 'while true; do echo tick; sleep 0.2; done']));
    await cri.runtime.startContainer({ containerId: c });
    const log = join(pod.config.logDirectory, 'ticker/0.log');
    await until('a first tick', () => existsSync(log) && readFileSync(log, 'utf8').includes('tick'));
    renameSync(log, `${log}.1`);
    await cri.runtime.reopenContainerLog({ containerId: c });
    await until('ticks in the new file', () => existsSync(log) && readFileSync(log, 'utf8').includes(' stdout F tick'));
    for (const url of [
      (await cri.runtime.exec({ containerId: c, cmd: ['sh'], stdin: true, stdout: true, tty: true })).url,
      (await cri.runtime.attach({ containerId: c, stdout: true, stderr: true })).url,
      (await cri.runtime.portForward({ podSandboxId: pod.id, port: [80] })).url,
    ]) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\S+/);
    assert.equal(await code(cri.runtime.exec({ containerId: c, cmd: ['sh'], tty: true, stdout: true, stderr: true })), GRPC.InvalidArgument, 'tty with stderr');
    await cri.runtime.stopContainer({ containerId: c, timeout: 0 });
    assert.equal(await code(cri.runtime.reopenContainerLog({ containerId: c })), GRPC.FailedPrecondition, 'not running');
    await cleanupPod(pod.id);
  });

  test('a Bidirectional mount: a mount made in the container reaches the host (rootfs rshared)', async () => {
    // critest's mount propagation spec: the host dir is a shared mount point, as kubelet makes them.
    const host = mkdtempSync(join(tmpdir(), 'cri-prop-'));
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { stdio: 'pipe' });
    try {
      sh(`mount --bind ${host} ${host} && mount --make-rshared ${host} && mkdir ${host}/m`);
      const pod = await runPod(`p${n++}`, { linux: { securityContext: { privileged: true } } });
      const c = await create(pod, ctrConfig('prop', ['sleep', '300'], {
        mounts: [{ containerPath: '/vol', hostPath: host, propagation: 'PROPAGATION_BIDIRECTIONAL' }],
        linux: { securityContext: { privileged: true } },
      }));
      await cri.runtime.startContainer({ containerId: c });
      assert.equal((await exec(c, ['mount', '--bind', '/etc', '/vol/m'])).exitCode, 0);
      assert.ok(existsSync(join(host, 'm', 'passwd')), "the container's mount shows on the host");
      await cleanupPod(pod.id);
    } finally {
      sh(`umount -l ${host}/m 2>/dev/null; umount -l ${host} 2>/dev/null; true`);
      // Never recursive: were /etc still bound at m, rmdir fails instead of emptying the host's /etc.
      for (const dir of [join(host, 'm'), host]) if (existsSync(dir)) rmdirSync(dir);
    }
  });

  test('bad input: NotFound, InvalidArgument, AlreadyExists, FailedPrecondition, nothing left', async () => {
    const before = (await cri.runtime.listContainers({})).containers.length;
    assert.equal(await code(create({ id: 'f'.repeat(64), config: {} }, ctrConfig('x', ['true']))), GRPC.NotFound, 'missing pod');
    const pod = await runPod(`p${n++}`);
    assert.equal(await code(create(pod, ctrConfig('x', ['true'], { logPath: '../../escape.log' }))), GRPC.InvalidArgument, 'log path escaping');
    assert.equal(await code(create(pod, ctrConfig('x', ['true'], { mounts: [{ containerPath: '/m', hostPath: '/no/such/dir' }] }))), GRPC.InvalidArgument, 'missing host path');
    assert.equal(await code(create(pod, { ...ctrConfig('x', ['true']), image: { image: 'no-such-image:1' } })), GRPC.NotFound, 'missing image');
    assert.equal((await cri.runtime.listContainers({})).containers.length, before, 'refused creates leave nothing');
    const c = await create(pod, ctrConfig('dup', ['sleep', '300']));
    const err = await create(pod, ctrConfig('dup', ['sleep', '300'])).then(() => undefined, (e) => e);
    assert.equal(err?.code, GRPC.AlreadyExists);
    assert.match(err.details, new RegExp(`reserved for ${c}`));
    assert.equal(await code(cri.runtime.execSync({ containerId: c, cmd: ['true'], timeout: 5 })), GRPC.FailedPrecondition, 'exec in a container not running');
    assert.equal(await code(cri.runtime.containerStatus({ containerId: 'nope' })), GRPC.NotFound);
    await cri.runtime.stopPodSandbox({ podSandboxId: pod.id });
    assert.equal(await code(create(pod, ctrConfig('late', ['true']))), GRPC.FailedPrecondition, 'stopped pod');
    assert.equal(await code(cri.runtime.startContainer({ containerId: c })), GRPC.FailedPrecondition, 'start in a stopped pod');
    await cleanupPod(pod.id);
  });

  test('ExecSync timeout is an error; a kill -9 of congad keeps pods and containers, and an exit meanwhile is seen', async () => {
    const pod = await runPod(`p${n++}`);
    const keep = await create(pod, ctrConfig('keep', ['sleep', '300']));
    const quit = await create(pod, ctrConfig('quit', ['sh', '-c', 'read x < /dev/stdin; exit 7'], { stdin: true }));
    for (const id of [keep, quit]) await cri.runtime.startContainer({ containerId: id });
    assert.equal(await code(cri.runtime.execSync({ containerId: keep, cmd: ['sleep', '30'], timeout: 1 })), GRPC.DeadlineExceeded, 'timed out');
    const qpid = await pidOf(quit);
    await d.killEngine();
    process.kill(qpid, 'SIGKILL');
    await d.startEngine();
    cri.close();
    cri = criClient(join(d.run, 'cri.sock'));
    await until('the pod to be listed', async () => (await cri.runtime.listPodSandbox({})).items.some((p: { id: string }) => p.id === pod.id));
    assert.equal((await status(keep)).status.state, 'CONTAINER_RUNNING');
    assert.equal((await exec(keep, ['echo', 'back'])).stdout, 'back\n');
    await until('the exit during downtime', async () => (await status(quit)).status.state === 'CONTAINER_EXITED');
    assert.equal((await status(quit)).status.exitCode, 137);
    await cleanupPod(pod.id);
  });
});
