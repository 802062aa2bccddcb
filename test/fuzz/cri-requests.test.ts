import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { mountsUnder, runcList, startDaemon, type Daemon } from '../harness/daemon';
import { criClient, type CriClient } from '../harness/cri-client';
import { fuzzParams } from './fuzz-options';

/**
 * Fuzzing the CRI RuntimeService of a real congad (all-in-one) over its socket: hostile
 * PodSandboxConfig (RunPodSandbox) and ContainerConfig (CreateContainer). Every answer is a
 * success or a client error (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION)
 * with a message: never INTERNAL/UNKNOWN, never a dead congad; whatever was made is removed
 * and leaves no pod directory, mount, cgroup or runc state.
 */

const CLIENT_CODES = new Set([3, 5, 6, 9]);
/** Private to this run, so concurrent runs (CI shards, a nightly run) do not see each other's pods. */
const CGROUP_PARENT = `conga-cri-fuzz-${process.pid}`;

const str = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', '..', '../..', '../../etc', '/', '/etc/passwd', 'a/../../b', '-rf', 'x'.repeat(300), 'bad_host!', 'a b', 'ok', 'web-1', '\u00e9', 'a\u0000b', '%2e%2e', '.'),
);
const int64 = fc.oneof(
  fc.integer({ min: -5, max: 70_000 }),
  fc.constantFrom(-1, 0, 1, 2, 1024, 65_535, 65_536, 1 << 20, 2 ** 31, -(2 ** 31), 2 ** 53 - 1, -(2 ** 53 - 1), Number.MAX_SAFE_INTEGER),
);
const nsMode = fc.constantFrom('POD', 'CONTAINER', 'NODE', 'TARGET');
const labels = fc.dictionary(str, str, { maxKeys: 3 });
const sysctls = fc.dictionary(
  fc.oneof(fc.constantFrom('net.ipv4.ip_forward', 'net.ipv4.ip_unprivileged_port_start', 'kernel.shm_rmid_forced', 'kernel.core_pattern', 'kernel.hostname', 'fs.mqueue.msg_max', 'net.core.somaxconn', 'vm.swappiness', '../../x', 'net/ipv4/../../../x'), str),
  fc.oneof(str, fc.constantFrom('0', '1', '-1', '99999999999999999999', '1+kernel.core_pattern=|/tmp/x')),
  { maxKeys: 3 },
);
const resources = fc.record(
  { cpuPeriod: int64, cpuQuota: int64, cpuShares: int64, memoryLimitInBytes: int64, memorySwapLimitInBytes: int64, oomScoreAdj: int64, cpusetCpus: fc.constantFrom('', '0', '0-1', '99', 'x', '-1'), cpusetMems: fc.constantFrom('', '0', '7', 'zz') },
  { requiredKeys: [] },
);

function podMeta(i: number, name: string) {
  return { name, uid: `uid-${i}`, namespace: 'fuzz', attempt: 0 };
}

const podConfigArb = fc.record(
  {
    metadata: fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, fc.record({ name: str, uid: str, namespace: str, attempt: int64 }, { requiredKeys: [] })),
    hostname: fc.oneof({ arbitrary: fc.constantFrom('', 'web-1'), weight: 3 }, str),
    logDirectory: fc.oneof({ arbitrary: fc.constantFrom('', '/logs'), weight: 3 }, str),
    labels,
    annotations: labels,
    portMappings: fc.array(fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'), containerPort: int64, hostPort: fc.oneof(fc.constant(0), int64), hostIp: fc.constantFrom('', '127.0.0.1', '::1', 'nope', '0.0.0.0') }), { maxLength: 2 }).chain((ps) => fc.constantFrom([], ps)),
    dnsConfig: fc.option(fc.record({ servers: fc.array(str, { maxLength: 2 }), searches: fc.array(str, { maxLength: 2 }), options: fc.array(str, { maxLength: 2 }) }), { nil: undefined, freq: 2 }),
    linux: fc.record(
      {
        cgroupParent: fc.constantFrom('', '', '', '../../../escape', '/../x', 'a/../../b', '..'),
        sysctls: fc.option(sysctls, { nil: undefined, freq: 3 }),
        resources: fc.option(resources, { nil: undefined, freq: 3 }),
        securityContext: fc.record({ namespaceOptions: fc.record({ network: nsMode, pid: nsMode, ipc: nsMode }, { requiredKeys: [] }), privileged: fc.boolean() }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

const mountArb = fc.record({ containerPath: fc.oneof({ arbitrary: fc.constantFrom('/mnt', '/data'), weight: 3 }, str), hostPath: fc.oneof({ arbitrary: fc.constantFrom('/tmp', '/etc/hostname'), weight: 3 }, str, fc.constantFrom('/nonexistent/x', '/proc/self')), readonly: fc.boolean(), propagation: fc.constantFrom('PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL') });
const ctrConfigArb = (image: string) =>
  fc.record(
    {
      metadata: fc.oneof({ arbitrary: fc.record({ name: fc.constantFrom('c', 'app', 'side.car_1'), attempt: fc.nat(3) }), weight: 4 }, fc.constant(undefined), fc.record({ name: str, attempt: int64 }, { requiredKeys: [] })),
      image: fc.oneof({ arbitrary: fc.constant({ image }), weight: 6 }, fc.record({ image: fc.oneof(str, fc.constantFrom('sha256:zz', 'nope:latest', `${image}-x`)) })),
      command: fc.array(str, { maxLength: 2 }),
      args: fc.array(str, { maxLength: 2 }),
      workingDir: fc.oneof({ arbitrary: fc.constantFrom('', '/', '/tmp', '/../..'), weight: 4 }, str),
      envs: fc.array(fc.record({ key: fc.oneof({ arbitrary: fc.constantFrom('A', 'PATH', 'X_1'), weight: 4 }, str), value: str }), { maxLength: 2 }),
      mounts: fc.array(mountArb, { maxLength: 1 }),
      devices: fc.array(fc.option(fc.record({ containerPath: str, hostPath: fc.oneof(str, fc.constantFrom('/dev/null', '/dev/nope', '/etc/passwd')), permissions: fc.constantFrom('', 'rwm', 'r', 'xyz') }), { nil: undefined, freq: 3 }).map((d) => d ?? { containerPath: '/dev/null', hostPath: '/dev/null', permissions: 'rwm' }), { maxLength: 1 }),
      labels,
      annotations: labels,
      logPath: fc.oneof({ arbitrary: fc.constantFrom('', 'c/0.log'), weight: 4 }, str, fc.constantFrom('c/0.log', '../x.log', 'a/../../b.log', '/abs.log', 'a/./b.log', 'dir/')),
      tty: fc.boolean(),
      stdin: fc.boolean(),
      linux: fc.record(
        {
          resources: fc.option(resources, { nil: undefined, freq: 2 }),
          securityContext: fc.option(fc.record(
            {
              privileged: fc.boolean(),
              readonlyRootfs: fc.boolean(),
              noNewPrivs: fc.boolean(),
              runAsUser: fc.record({ value: int64 }),
              runAsGroup: fc.record({ value: int64 }),
              runAsUsername: fc.constantFrom('', 'root', 'nobody', 'nosuchuser', '0:0'),
              supplementalGroups: fc.array(int64, { maxLength: 2 }),
              capabilities: fc.record({ addCapabilities: fc.array(fc.constantFrom('NET_ADMIN', 'CAP_SYS_ADMIN', 'ALL', 'BOGUS', ''), { maxLength: 2 }), dropCapabilities: fc.array(fc.constantFrom('ALL', 'CHOWN', 'nope'), { maxLength: 2 }) }, { requiredKeys: [] }),
              namespaceOptions: fc.record({ network: nsMode, pid: nsMode, ipc: nsMode, targetId: fc.constantFrom('', 'zz', '0000') }, { requiredKeys: [] }),
              seccompProfilePath: fc.constantFrom('', '', '', '', 'unconfined', 'runtime/default', 'localhost/etc/passwd', 'localhost/nope', 'bogus'),
              seccomp: fc.oneof(fc.constant(undefined), fc.record({ profileType: fc.constantFrom('RuntimeDefault', 'Unconfined', 'Localhost'), localhostRef: fc.constantFrom('', '/etc/passwd', 'rel', '/nonexistent') })),
              maskedPaths: fc.array(str, { maxLength: 1 }),
              readonlyPaths: fc.array(str, { maxLength: 1 }),
            },
            { requiredKeys: [] },
          ), { nil: undefined, freq: 2 }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  );

describe('fuzz CRI requests', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let cri: CriClient;
  let image: string;
  let logs: string;
  let i = 0;
  const seen = new Map<string, number>();

  /** A call's outcome: "ok", or the client error's code name; anything else fails the property. */
  async function outcome(rpc: string, p: Promise<unknown>, input: unknown): Promise<'ok' | number> {
    try {
      await p;
      seen.set(`${rpc} ok`, (seen.get(`${rpc} ok`) ?? 0) + 1);
      return 'ok';
    } catch (e) {
      const err = e as { code?: number; details?: string };
      const what = `input ${JSON.stringify(input)?.slice(0, 600)}`;
      assert.ok(err.code !== undefined && CLIENT_CODES.has(err.code), `${what} → grpc ${err.code}: ${err.details}`);
      assert.ok((err.details ?? '').trim().length > 0, `${what}: the error has a message`);
      seen.set(`${rpc} ${err.code}`, (seen.get(`${rpc} ${err.code}`) ?? 0) + 1);
      return err.code!;
    }
  }

  async function alive(): Promise<void> {
    const v = await cri.runtime.version({ version: 'v1' }, { deadlineMs: 10_000 });
    assert.ok(v.runtimeName, 'congad answers after the case');
  }

  async function removeAllPods(): Promise<void> {
    const { items } = await cri.runtime.listPodSandbox({});
    for (const p of items) {
      await cri.runtime.stopPodSandbox({ podSandboxId: p.id });
      await cri.runtime.removePodSandbox({ podSandboxId: p.id });
    }
  }

  /** Nothing left by the pods and containers of the cases. */
  function assertClean(): void {
    assert.deepEqual(mountsUnder(join(d.run, 'cri')), []);
    const pods = join(d.run, 'cri', 'pods');
    assert.deepEqual(existsSync(pods) ? readdirSync(pods) : [], [], 'no pod directory');
    assert.deepEqual(runcList(join(d.run, 'executor', 'runc')), []);
    for (const ctl of ['memory', 'cpu', 'pids']) {
      const dir = join('/sys/fs/cgroup', ctl, CGROUP_PARENT);
      const left = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
      assert.deepEqual(left, [], `no pod cgroup under ${dir}`);
    }
    for (const bad of ['escape', 'b', 'x']) assert.ok(!existsSync(join('/sys/fs/cgroup/memory', bad)), `no cgroup "${bad}" made outside the parent`);
  }

  before(async () => {
    reg = await startRegistry();
    image = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one', config: { 'cgroup-parent': `/${CGROUP_PARENT}` } });
    logs = mkdtempSync(join(tmpdir(), 'cri-fuzz-logs-'));
    const sock = join(d.run, 'cri.sock');
    const end = Date.now() + 20_000;
    while (!existsSync(sock) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    cri = criClient(sock);
    await cri.image.pullImage({ image: { image } });
  });

  after(async () => {
    if (cri) {
      await removeAllPods().catch(() => undefined);
      cri.close();
    }
    await d?.stop();
    await reg?.stop();
    if (logs) rmSync(logs, { recursive: true, force: true });
    for (const ctl of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', ctl, CGROUP_PARENT));
      } catch {
        /* not made in this controller */
      }
    }
    console.log('fuzz CRI outcomes:', JSON.stringify(Object.fromEntries(seen)));
  });

  /** A hostile pod config, with a unique identity most of the time so successes do not collide. */
  async function runPodCase(cfg: Record<string, any>, unique: boolean): Promise<void> {
    const n = i++;
    const config = { ...cfg };
    if (unique) config.metadata = { ...podMeta(n, `p${n}`), ...(cfg.metadata ?? {}), uid: `uid-${n}` };
    if (typeof config.logDirectory === 'string' && config.logDirectory.startsWith('/')) config.logDirectory = join(logs, config.logDirectory);
    const r = await outcome('RunPodSandbox', cri.runtime.runPodSandbox({ config }), config);
    await alive();
    if (r === 'ok') await removeAllPods();
  }

  test('regressions: pod configs found by the fuzzer', async () => {
    // A cgroup_parent that climbs out of the cgroup hierarchy is refused.
    for (const cgroupParent of ['../../../escape', '/../x', 'a/../../b']) {
      await assert.rejects(cri.runtime.runPodSandbox({ config: { metadata: podMeta(9000, 'cg'), linux: { cgroupParent } } }), (e: { code: number; details: string }) => e.code === 3 && /cgroup_parent/.test(e.details));
    }
    // A relative log_directory (it would land in congad's working directory) is refused.
    await assert.rejects(cri.runtime.runPodSandbox({ config: { metadata: podMeta(9001, 'ld'), logDirectory: 'rel/logs' } }), (e: { code: number; details: string }) => e.code === 3 && /log_directory/.test(e.details));
    // Pod limits the kernel refuses (a huge memory limit, an out-of-range cpu period) are a client error.
    await assert.rejects(cri.runtime.runPodSandbox({ config: { metadata: podMeta(9002, 'res'), linux: { resources: { cpuPeriod: 2 ** 31 } } } }), (e: { code: number; details: string }) => e.code === 3 && /cpu/.test(e.details));
    await assert.rejects(cri.runtime.runPodSandbox({ config: { metadata: podMeta(9003, 'res'), linux: { resources: { cpuQuota: 1 } } } }), (e: { code: number; details: string }) => e.code === 3 && /cfs_quota/.test(e.details));
    // A sysctl value the kernel refuses is a client error.
    await assert.rejects(cri.runtime.runPodSandbox({ config: { metadata: podMeta(9005, 'sys'), linux: { sysctls: { 'kernel.shm_rmid_forced': '-1' } } } }), (e: { code: number; details: string }) => e.code === 3 && /shm_rmid_forced="-1" was refused/.test(e.details));
    // Without a hostname the pod name becomes it: an invalid one is refused, not an INTERNAL error.
    await assert.rejects(cri.runtime.runPodSandbox({ config: { metadata: podMeta(9004, 'bad_host!') } }), (e: { code: number; details: string }) => e.code === 3 && /metadata\.name/.test(e.details));
    // Found by a FUZZ_RUNS=2000 run: a label ending in '-' (or an empty label) is not a host name.
    for (const hostname of ['0-', 'a..b', 'a.-b']) {
      await assert.rejects(cri.runtime.runPodSandbox({ config: { metadata: podMeta(9006, 'hn'), hostname } }), (e: { code: number; details: string }) => e.code === 3 && /is not a valid host name/.test(e.details), hostname);
    }
    await alive();
    assertClean();
  });

  test('RunPodSandbox with hostile configs', async () => {
    await fc.assert(
      fc.asyncProperty(podConfigArb, fc.nat(4).map((k) => k === 0), async (cfg, dup) => {
        await runPodCase(cfg as Record<string, any>, !dup);
      }),
      fuzzParams(150),
    );
    assertClean();
  });

  test('CreateContainer with hostile configs', async () => {
    const sandboxConfig = { metadata: podMeta(-1, 'host'), hostname: 'host', logDirectory: join(logs, 'host'), linux: { securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } } };
    const { podSandboxId } = await cri.runtime.runPodSandbox({ config: sandboxConfig });
    try {
      await fc.assert(
        fc.asyncProperty(ctrConfigArb(image), fc.constantFrom('pod', 'pod', 'pod', 'pod', 'pod', 'pod', 'missing', 'prefix'), async (cfg, which) => {
          const id = which === 'pod' ? podSandboxId : which === 'prefix' ? podSandboxId.slice(0, 1) : 'f'.repeat(64);
          const req = { podSandboxId: id, config: cfg, sandboxConfig };
          let created = '';
          const r = await outcome(
            'CreateContainer',
            cri.runtime.createContainer(req).then((res: { containerId: string }) => (created = res.containerId)),
            req,
          );
          await alive();
          if (r === 'ok') await cri.runtime.removeContainer({ containerId: created });
        }),
        fuzzParams(250),
      );
      assert.deepEqual((await cri.runtime.listContainers({})).containers, [], 'every created container was removed');
    } finally {
      await removeAllPods();
    }
    assertClean();
  });
});
