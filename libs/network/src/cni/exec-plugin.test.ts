import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E } from '@conga/common';
import { execPlugin } from './exec-plugin';
import { addNetworkList } from './conflist';
import { loopbackConfList } from '../network-configs';

const real = { binDirs: ['/usr/lib/cni'], timeoutMs: 30_000 };
const rt = { containerId: 'cni-test', netns: '/nonexistent/netns', ifName: 'lo' };

test('cni: VERSION of the real loopback plugin lists spec 1.0.0', async () => {
  const r = (await execPlugin('VERSION', { type: 'loopback', cniVersion: '1.0.0' }, rt, real)) as { supportedVersions?: string[] };
  assert.ok(r.supportedVersions?.includes('1.0.0'), JSON.stringify(r));
});

test("cni: a plugin's error object is surfaced with its own message", async () => {
  await assert.rejects(addNetworkList(loopbackConfList(), rt, real), (e: Error) => E.CniFailed.is(e) && /CNI plugin loopback ADD failed/.test(e.message) && /\/nonexistent\/netns/.test(e.message) && /CNI error code \d+/.test(e.message));
});

test('cni: a missing binary is named; a plugin that hangs is killed after the timeout', async (t) => {
  const bin = await mkdtemp(join(tmpdir(), 'conga-cni-bin-'));
  t.after(() => rm(bin, { recursive: true, force: true }));
  await assert.rejects(execPlugin('ADD', { type: 'nope', cniVersion: '1.0.0' }, rt, { binDirs: [bin], timeoutMs: 1000 }), (e: Error) => E.CniFailed.is(e) && /"nope" not found in /.test(e.message));
  await assert.rejects(execPlugin('ADD', { type: '../loopback', cniVersion: '1.0.0' }, rt, { binDirs: [bin], timeoutMs: 1000 }), (e) => E.CniFailed.is(e));
  // A stand-in plugin that never answers (testing our timeout, not a CNI plugin's behaviour).
  await writeFile(join(bin, 'hang'), '#!/bin/sh\nexec sleep 600\n');
  await chmod(join(bin, 'hang'), 0o755);
  await assert.rejects(execPlugin('ADD', { type: 'hang', cniVersion: '1.0.0' }, rt, { binDirs: [bin], timeoutMs: 300 }), (e: Error) => E.CniFailed.is(e) && /hang ADD failed: no answer within/.test(e.message));
});
