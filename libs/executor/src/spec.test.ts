import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E } from '@conga/common';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, computeCapabilities, generateSpec } from './spec';

const base = { rootfs: '/var/lib/conga/rootfs/x', process: { args: ['sh'] } };

test('defaults follow docker', () => {
  const s = generateSpec('c1', base);
  assert.equal(s.ociVersion, '1.0.2');
  assert.deepEqual(s.process.args, ['sh']);
  assert.equal(s.process.cwd, '/');
  assert.deepEqual(s.process.user, { uid: 0, gid: 0 });
  assert.ok(s.process.env.some((e) => e.startsWith('PATH=')));
  assert.equal(s.process.terminal, false);
  assert.equal(s.process.noNewPrivileges, false);
  assert.deepEqual(s.process.capabilities.bounding, [...DEFAULT_CAPABILITIES].sort((a, b) => ALL_CAPABILITIES.indexOf(a) - ALL_CAPABILITIES.indexOf(b)));
  assert.deepEqual(s.process.capabilities.effective, s.process.capabilities.bounding);
  assert.deepEqual(s.process.capabilities.permitted, s.process.capabilities.bounding);
  assert.deepEqual(s.process.capabilities.inheritable, []);
  assert.deepEqual(s.process.capabilities.ambient, []);
  assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }]);
  assert.deepEqual(s.root, { path: '/var/lib/conga/rootfs/x', readonly: false });
  assert.deepEqual(s.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
  const dev = s.mounts.find((m) => m.destination === '/dev')!;
  assert.ok(dev.options.includes('mode=755') && dev.options.includes('size=65536k'));
  const pts = s.mounts.find((m) => m.destination === '/dev/pts')!;
  for (const o of ['newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']) assert.ok(pts.options.includes(o), o);
  assert.ok(s.mounts.find((m) => m.destination === '/sys')!.options.includes('ro'));
  assert.ok(s.mounts.find((m) => m.destination === '/sys/fs/cgroup')!.options.includes('ro'));
  assert.deepEqual(s.linux.namespaces, [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }]);
  assert.equal(s.linux.cgroupsPath, '/conga/c1');
  assert.deepEqual(s.linux.maskedPaths, DEFAULT_MASKED_PATHS);
  assert.ok(s.linux.readonlyPaths.includes('/proc/sys'));
  const devs = s.linux.resources.devices;
  assert.deepEqual(devs[0], { allow: false, access: 'rwm' });
  for (const [maj, min] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 2]]) {
    assert.ok(devs.some((d) => d.allow && d.type === 'c' && d.major === maj && d.minor === min), `${maj}:${min}`);
  }
  assert.ok(devs.some((d) => d.allow && d.major === 136 && d.minor === undefined));
});

test('process fields, netns, mounts, annotations and cgroup parent', () => {
  const s = generateSpec('abc', {
    ...base,
    process: { args: ['/bin/app', '-x'], env: ['A=1', 'PATH=/bin'], cwd: '/srv', user: { uid: 1000, gid: 100, additionalGids: [10, 20] }, terminal: true },
    readonlyRootfs: true,
    hostname: 'box',
    netnsPath: '/run/netns/pod1',
    mounts: [{ destination: '/etc/hosts', source: '/tmp/hosts', options: ['ro'] }, { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['size=1g'] }],
    annotations: { 'io.conga.x': 'y' },
    cgroupParent: 'mypods/',
    noNewPrivileges: true,
  }, { nofile: 4096 });
  assert.deepEqual(s.process.env, ['A=1', 'PATH=/bin', 'TERM=xterm']);
  assert.equal(s.process.cwd, '/srv');
  assert.deepEqual(s.process.user, { uid: 1000, gid: 100, additionalGids: [10, 20] });
  assert.equal(s.process.terminal, true);
  assert.equal(s.process.noNewPrivileges, true);
  assert.deepEqual(s.process.rlimits[0], { type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 });
  assert.equal(s.root.readonly, true);
  assert.equal(s.hostname, 'box');
  assert.deepEqual(s.linux.namespaces.at(-1), { type: 'network', path: '/run/netns/pod1' });
  assert.deepEqual(s.mounts.at(-2), { destination: '/etc/hosts', type: 'bind', source: '/tmp/hosts', options: ['rbind', 'ro'] });
  assert.equal(s.mounts.filter((m) => m.destination === '/dev/shm').length, 1, 'request mount replaces the default');
  assert.deepEqual(s.mounts.at(-1)!.options, ['size=1g']);
  assert.deepEqual(s.annotations, { 'io.conga.x': 'y' });
  assert.equal(s.linux.cgroupsPath, '/mypods/abc');

  const host = generateSpec('abc', { ...base, netnsPath: 'host' });
  assert.ok(!host.linux.namespaces.some((n) => n.type === 'network'));
});

test('capabilities: add, drop, ALL, privileged', () => {
  const add = computeCapabilities({ capAdd: ['net_admin', 'CAP_SYS_PTRACE'], capDrop: ['MKNOD', 'cap_kill'] });
  assert.ok(add.includes('CAP_NET_ADMIN') && add.includes('CAP_SYS_PTRACE'));
  assert.ok(!add.includes('CAP_MKNOD') && !add.includes('CAP_KILL'));
  assert.ok(add.includes('CAP_CHOWN'));
  assert.deepEqual(computeCapabilities({ capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE'] }), ['CAP_NET_BIND_SERVICE']);
  assert.deepEqual(computeCapabilities({ capDrop: ['ALL'] }), []);
  assert.deepEqual(computeCapabilities({ capAdd: ['ALL'] }), [...ALL_CAPABILITIES]);
  assert.deepEqual(computeCapabilities({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] }), ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_ADMIN'));
  const priv = generateSpec('p', { ...base, privileged: true, capDrop: ['CHOWN'] });
  assert.deepEqual(priv.process.capabilities.bounding, [...ALL_CAPABILITIES]);
  assert.deepEqual(priv.linux.maskedPaths, []);
  assert.deepEqual(priv.linux.readonlyPaths, []);
  assert.deepEqual(priv.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  assert.ok(priv.mounts.find((m) => m.destination === '/sys')!.options.includes('rw'));
});

test('invalid specs are refused with InvalidArgument', () => {
  const bad: [string, object][] = [
    ['no args', { rootfs: '/r', process: { args: [] } }],
    ['no process', { rootfs: '/r' }],
    ['relative rootfs', { rootfs: 'r', process: { args: ['sh'] } }],
    ['relative cwd', { rootfs: '/r', process: { args: ['sh'], cwd: 'x' } }],
    ['bad env', { rootfs: '/r', process: { args: ['sh'], env: ['NOVALUE'] } }],
    ['relative mount', { rootfs: '/r', process: { args: ['sh'] }, mounts: [{ destination: 'etc/hosts', source: '/x' }] }],
    ['unknown cap', { rootfs: '/r', process: { args: ['sh'] }, capAdd: ['FLY'] }],
    ['relative netns', { rootfs: '/r', process: { args: ['sh'] }, netnsPath: 'netns/x' }],
  ];
  for (const [what, spec] of bad) assert.throws(() => generateSpec('c', spec), (e) => E.InvalidArgument.is(e), what);
});

test('rootfs propagation follows the binds (rshared wins over rslave), as dockerd/containerd', () => {
  const bind = (o: string) => ({ destination: `/m-${o}`, source: '/tmp', options: [o] });
  assert.equal(generateSpec('p', base).linux.rootfsPropagation, undefined);
  assert.equal(generateSpec('p', { ...base, mounts: [bind('rprivate')] }).linux.rootfsPropagation, undefined);
  assert.equal(generateSpec('p', { ...base, mounts: [bind('rslave')] }).linux.rootfsPropagation, 'rslave');
  assert.equal(generateSpec('p', { ...base, mounts: [bind('rslave'), bind('rshared')] }).linux.rootfsPropagation, 'rshared');
});

test('masked/read-only paths: a requested list replaces its defaults; relative paths are refused', () => {
  const s = generateSpec('p', { ...base, unmaskPaths: true, maskedPaths: ['/bin/ls', '/bin/ls'], readonlyPaths: [] });
  assert.deepEqual(s.linux.maskedPaths, ['/bin/ls']);
  assert.deepEqual(s.linux.readonlyPaths, []);
  const d = generateSpec('p', { ...base, readonlyPaths: ['/tmp'] });
  assert.deepEqual(d.linux.maskedPaths, DEFAULT_MASKED_PATHS);
  assert.deepEqual(d.linux.readonlyPaths, ['/tmp']);
  assert.deepEqual(generateSpec('p', { ...base, privileged: true, maskedPaths: ['/bin/ls'] }).linux.maskedPaths, []);
  assert.throws(() => generateSpec('p', { ...base, maskedPaths: ['bin/ls'] }), (e) => E.InvalidArgument.is(e));
});
