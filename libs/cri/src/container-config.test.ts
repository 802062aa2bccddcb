import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E } from '@conga/common';
import { containerLogPath, containerName, POD_ID_LABEL, seccompOption, toEngineCreate, type PodInfo } from './container-config';

const pod: PodInfo = {
  id: 'p'.repeat(64), name: 'web', namespace: 'default', uid: 'u-1',
  netnsPath: '/run/conga/network/netns/p', ipcPath: '/run/conga/cri/p/ipc', utsPath: '/run/conga/cri/p/uts',
  cgroupParent: '/kubepods/podu-1', shmPath: '/run/conga/cri/p/shm', hostname: 'web-0', logDirectory: '/var/log/pods/x',
  dns: { servers: ['10.0.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
};
const base = { metadata: { name: 'app', attempt: 2 }, image: { image: 'busybox:latest' } };

test('container config: command/args follow Kubernetes, not Docker', () => {
  const only = toEngineCreate({ ...base, command: ['/bin/sh', '-c'] }, pod).body;
  assert.deepEqual(only.Entrypoint, ['/bin/sh', '-c']);
  assert.equal(only.Cmd, undefined, 'the engine drops the image CMD when an entrypoint is given');
  const args = toEngineCreate({ ...base, args: ['echo', 'hi'] }, pod).body;
  assert.equal(args.Entrypoint, undefined, 'args alone keep the image ENTRYPOINT');
  assert.deepEqual(args.Cmd, ['echo', 'hi']);
});

test('container config: name, labels, env, tty/stdin, log path and pod binding', () => {
  const t = toEngineCreate({ ...base, envs: [{ key: 'A', value: '1' }, { key: 'B', value: '' }], labels: { tier: 'front' }, annotations: { a: 'b' }, logPath: 'app/2.log', tty: true, stdin: true, stdinOnce: true, workingDir: '/srv' }, pod);
  assert.equal(t.name, containerName(pod, 'app', 2));
  assert.equal(t.name, 'app_web_default_u-1_2');
  assert.deepEqual(t.body.Env, ['A=1', 'B=']);
  assert.equal(t.body.Labels![POD_ID_LABEL], pod.id);
  assert.equal(t.body.Labels!.tier, 'front');
  assert.equal(t.body.Tty, true);
  assert.equal(t.body.OpenStdin, true);
  assert.equal(t.body.WorkingDir, '/srv');
  assert.equal(t.body.HostConfig!.NetworkMode, 'none');
  assert.equal(t.pod.logPath, '/var/log/pods/x/app/2.log');
  assert.equal(t.pod.pidMode, 'pod', 'POD is the enum default');
  assert.equal(t.pod.netnsPath, pod.netnsPath);
  assert.deepEqual(t.pod.dns, pod.dns);
  const meta = t.pod.meta as { labels: Record<string, string>; annotations: Record<string, string>; attempt: number };
  assert.deepEqual(meta.labels, { tier: 'front' }, 'CRI labels are kept apart from the engine labels');
  assert.deepEqual(meta.annotations, { a: 'b' });
  assert.equal(meta.attempt, 2);
});

test('container config: resources (no swap), security context and namespaces', () => {
  const t = toEngineCreate({
    ...base,
    linux: {
      resources: { cpuPeriod: 100000, cpuQuota: 50000, cpuShares: 512, memoryLimitInBytes: 64 << 20, cpusetCpus: '0', hugepageLimits: [{ pageSize: '2MB', limit: 0 }] },
      securityContext: {
        runAsUser: { value: 1000 }, runAsGroup: { value: 2000 }, supplementalGroups: [3000, 3001],
        capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] },
        readonlyRootfs: true, noNewPrivs: true, seccomp: { profileType: 'Unconfined' },
        maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'],
        namespaceOptions: { pid: 'CONTAINER', ipc: 'NODE' },
      },
    },
  }, pod);
  const hc = t.body.HostConfig!;
  assert.equal(hc.CpuPeriod, 100000);
  assert.equal(hc.CpuQuota, 50000);
  assert.equal(hc.CpuShares, 512);
  assert.equal(hc.Memory, 64 << 20);
  assert.equal(hc.MemorySwap, 64 << 20, 'Kubernetes runs without swap');
  assert.equal(hc.CpusetCpus, '0');
  assert.deepEqual(hc.CapAdd, ['NET_ADMIN']);
  assert.deepEqual(hc.CapDrop, ['ALL']);
  assert.equal(hc.ReadonlyRootfs, true);
  assert.deepEqual(hc.SecurityOpt, ['no-new-privileges', 'seccomp=unconfined', 'systempaths=unconfined']);
  assert.deepEqual([hc.MaskedPaths, hc.ReadonlyPaths], [['/proc/kcore'], ['/proc/sys']], 'the lists as given, instead of the defaults');
  assert.equal(t.body.User, '1000:2000');
  assert.deepEqual(t.pod.groups, [3000, 3001]);
  assert.equal(t.pod.pidMode, 'container');
  assert.equal(t.pod.ipcPath, null, 'ipc NODE: the host IPC namespace');
  assert.ok(t.warnings.some((w) => /hugepage/.test(w)));
  const unmasked = toEngineCreate({ ...base, linux: { securityContext: { maskedPaths: [], readonlyPaths: [], seccomp: { profileType: 'RuntimeDefault' } } } }, pod);
  assert.deepEqual(unmasked.body.HostConfig!.SecurityOpt, ['systempaths=unconfined'], 'RuntimeDefault: the default profile; no masks (Unmasked procMount)');
  const named = toEngineCreate({ ...base, linux: { securityContext: { runAsUsername: 'nobody', namespaceOptions: { pid: 'NODE' } } } }, { ...pod, netnsPath: null });
  assert.equal(named.body.User, 'nobody');
  assert.equal(named.pod.pidMode, 'host');
  assert.equal(named.body.HostConfig!.NetworkMode, 'host');
  const target = toEngineCreate({ ...base, linux: { securityContext: { namespaceOptions: { pid: 'TARGET', targetId: 'abc' } } } }, pod);
  assert.deepEqual([target.pod.pidMode, target.pod.pidTarget], ['target', 'abc']);
});

test('container config: mounts with propagation and devices', () => {
  const t = toEngineCreate({
    ...base,
    mounts: [
      { containerPath: '/data', hostPath: '/tmp', readonly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      { containerPath: '/x', hostPath: '/var', propagation: 'PROPAGATION_BIDIRECTIONAL' },
      { containerPath: '/y', hostPath: '/var' },
    ],
    devices: [{ containerPath: '/dev/xnull', hostPath: '/dev/null', permissions: 'rw' }],
  }, pod);
  assert.deepEqual(t.body.HostConfig!.Mounts!.map((m) => [m.Target, m.Source, m.ReadOnly, m.BindOptions?.Propagation]), [
    ['/data', '/tmp', true, 'rslave'], ['/x', '/var', false, 'rshared'], ['/y', '/var', false, 'rprivate'],
  ]);
  assert.deepEqual(t.body.HostConfig!.Devices, [{ PathOnHost: '/dev/null', PathInContainer: '/dev/xnull', CgroupPermissions: 'rw' }]);
});

test('container config: bad input is InvalidArgument with a clear message', () => {
  const bad: Array<[string, Parameters<typeof toEngineCreate>[0], RegExp]> = [
    ['no image', { metadata: { name: 'a' } }, /image is required/],
    ['no name', { image: { image: 'x' } }, /container name/],
    ['bad env', { ...base, envs: [{ key: 'A=B', value: '' }] }, /environment variable name/],
    ['relative workdir', { ...base, workingDir: 'srv' }, /working_dir/],
    ['relative host path', { ...base, mounts: [{ containerPath: '/a', hostPath: 'rel' }] }, /host_path/],
    ['escaping log path', { ...base, logPath: '../../etc/x.log' }, /must not contain/],
    ['absolute log path', { ...base, logPath: '/etc/x.log' }, /relative/],
    ['group without user', { ...base, linux: { securityContext: { runAsGroup: { value: 1 } } } }, /run_as_group needs/],
    ['negative uid', { ...base, linux: { securityContext: { runAsUser: { value: -1 } } } }, /not a valid id/],
    ['target pid without a target', { ...base, linux: { securityContext: { namespaceOptions: { pid: 'TARGET' } } } }, /target_id/],
    ['negative memory', { ...base, linux: { resources: { memoryLimitInBytes: -5 } } }, /must not be negative/],
    ['relative seccomp', { ...base, linux: { securityContext: { seccomp: { profileType: 'Localhost', localhostRef: 'p.json' } } } }, /absolute/],
  ];
  for (const [what, cfg, re] of bad) {
    assert.throws(() => toEngineCreate(cfg, pod), (e: unknown) => E.InvalidArgument.is(e) && re.test((e as Error).message), what);
  }
  assert.equal(containerLogPath('/var/log/pods/x', ''), '');
  assert.throws(() => containerLogPath('', 'a.log'), /log_directory/);
});

test('container config: a Localhost seccomp profile is read from the node', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cri-seccomp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'profile.json');
  writeFileSync(p, '{"defaultAction":"SCMP_ACT_ALLOW"}');
  assert.equal(seccompOption({ profileType: 'Localhost', localhostRef: p }, undefined), 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}');
  assert.equal(seccompOption(undefined, `localhost/${p}`), 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}');
  assert.equal(seccompOption(undefined, ''), 'seccomp=unconfined', 'none asked for: unconfined (containerd)');
  assert.equal(seccompOption(undefined, 'runtime/default'), undefined);
  writeFileSync(p, 'not json');
  assert.throws(() => seccompOption({ profileType: 'Localhost', localhostRef: p }, undefined), (e: unknown) => E.InvalidArgument.is(e));
  assert.throws(() => seccompOption({ profileType: 'Localhost', localhostRef: join(dir, 'missing.json') }, undefined), (e: unknown) => E.InvalidArgument.is(e));
});
