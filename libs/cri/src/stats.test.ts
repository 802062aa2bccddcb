import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskStats } from '@conga/api';
import { cpuUsage, dirUsage, memoryUsage, networkUsage, toNs, workingSet } from './stats';

const sample = (over: Partial<TaskStats>): TaskStats => ({ cpuTotalNs: 0, memoryUsage: 0, memoryLimit: 0, memoryStat: {}, networks: [], ...over }) as TaskStats;

test('stats: working set is usage minus inactive file pages (v1 and v2 names)', () => {
  assert.equal(workingSet(sample({ memoryUsage: 10_000, memoryStat: { total_inactive_file: 4_000 } })), 6_000);
  assert.equal(workingSet(sample({ memoryUsage: 10_000, memoryStat: { inactive_file: 3_000 } })), 7_000);
  assert.equal(workingSet(sample({ memoryUsage: 1_000, memoryStat: { total_inactive_file: 4_000 } })), 0, 'never negative');
  const m = memoryUsage(sample({ memoryUsage: 10_000, memoryLimit: 50_000, memoryStat: { total_inactive_file: 4_000, total_rss: 5_000 } }), 7);
  assert.deepEqual([m.timestamp, m.workingSetBytes.value, m.usageBytes.value, m.rssBytes?.value, m.availableBytes?.value], [7, 6_000, 10_000, 5_000, 44_000]);
  assert.equal(memoryUsage(sample({ memoryUsage: 1, memoryLimit: 2 ** 63 }), 1).availableBytes, undefined, 'no limit: no available bytes');
  assert.equal(memoryUsage(undefined, 1).workingSetBytes.value, 0, 'a stopped container reports zeros');
});

test('stats: cpu, network and timestamps', () => {
  assert.equal(cpuUsage(sample({ cpuTotalNs: 123 }), 1).usageCoreNanoSeconds.value, 123);
  const n = networkUsage(sample({ networks: [{ interface: 'lo', rxBytes: 1, txBytes: 1, rxErrors: 0, txErrors: 0 }, { interface: 'eth0', rxBytes: 5, txBytes: 6, rxErrors: 0, txErrors: 1 }] as TaskStats['networks'] }), 1);
  assert.equal(n.defaultInterface?.name, 'eth0');
  assert.equal(n.interfaces.length, 2);
  assert.equal(toNs('2026-11-22T06:00:00.5Z'), Date.parse('2026-11-22T06:00:00.5Z') * 1e6);
  assert.equal(toNs('0001-01-01T00:00:00Z'), 0);
  assert.equal(toNs(''), 0);
});

test('stats: the writable layer usage counts files and directories', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cri-usage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'a'));
  writeFileSync(join(dir, 'a', 'f'), Buffer.alloc(64 * 1024, 1));
  const u = await dirUsage(dir);
  assert.equal(u.inodes, 2);
  assert.ok(u.bytes >= 64 * 1024);
  assert.deepEqual(await dirUsage(join(dir, 'missing')), { bytes: 0, inodes: 0 });
});
