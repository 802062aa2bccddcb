import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E } from '@conga/common';
import { generateSpec } from './spec';

const base = { rootfs: '/var/lib/conga/rootfs/x', process: { args: ['sh'] }, hostname: 'pod-a' };

test('pod namespaces: pinned paths are joined, "host" leaves the namespace out', () => {
  const s = generateSpec('c1', { ...base, netnsPath: '/run/conga/network/netns/p1', ipcPath: '/run/conga/cri/pods/p1/ipc', utsPath: '/run/conga/cri/pods/p1/uts', pidPath: '/proc/42/ns/pid' });
  assert.deepEqual(s.linux.namespaces, [
    { type: 'pid', path: '/proc/42/ns/pid' },
    { type: 'ipc', path: '/run/conga/cri/pods/p1/ipc' },
    { type: 'uts', path: '/run/conga/cri/pods/p1/uts' },
    { type: 'mount' },
    { type: 'network', path: '/run/conga/network/netns/p1' },
  ]);
  assert.equal(s.hostname, 'pod-a');
  const h = generateSpec('c2', { ...base, netnsPath: 'host', ipcPath: 'host', utsPath: 'host', pidPath: 'host' });
  assert.deepEqual(h.linux.namespaces, [{ type: 'mount' }]);
  assert.equal(h.hostname, '', 'no hostname without a UTS namespace of its own');
});

test('pod namespaces: a relative namespace path is refused', () => {
  for (const k of ['ipcPath', 'utsPath', 'pidPath'] as const) {
    assert.throws(() => generateSpec('c1', { ...base, [k]: 'proc/1/ns/x' }), (e: unknown) => E.InvalidArgument.is(e) && /must be absolute/.test((e as Error).message));
  }
});
