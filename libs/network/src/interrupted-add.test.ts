import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newContext } from '@conga/common';
import { makeTestEnv } from './test-env';
import { runCommand } from './util/run-command';

const ctx = newContext();

async function rulesMentioning(text: string): Promise<string[]> {
  const out: string[] = [];
  for (const table of ['nat', 'filter']) {
    const r = await runCommand('iptables', ['-w', '-t', table, '-S']);
    out.push(...r.stdout.split('\n').filter((l) => l.includes(text)));
  }
  return out;
}

test('an ADD killed before its result was cached is DELeted with a prevResult rebuilt from the lease', async (t) => {
  const env = await makeTestEnv();
  t.after(() => env.cleanup());
  const svc = await env.start();
  if (!svc.firewall) return t.skip('iptables is not usable here: no firewall rules to leak');
  const id = 'interrupted1';
  const a = await svc.attach({ containerId: id, network: '', ports: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }] }, ctx);
  const ip = a.interfaces[0].addresses[0].split('/')[0];
  assert.ok((await rulesMentioning(`${ip}/32`)).length > 0, 'the firewall plugin made rules for the address');
  await svc.close();

  // What a kill -9 between the plugins' ADD and the second cache write leaves: a cache entry
  // without result, no attachment record, the netns, the veth, the lease and the rules.
  const cacheDir = join(env.opts.dir, 'cni-cache', id);
  for (const f of await readdir(cacheDir)) {
    const entry = JSON.parse(await readFile(join(cacheDir, f), 'utf8'));
    delete entry.result;
    await writeFile(join(cacheDir, f), JSON.stringify(entry));
  }
  await rm(join(env.opts.dir, 'attachments', `${id}.json`));

  // The restarted service releases the interrupted attach.
  const again = await env.start();
  assert.deepEqual((await again.listAttachments({}, ctx)).attachments, []);
  assert.deepEqual(await rulesMentioning(`${ip}/32`), [], 'no iptables rule for the address is left');
  assert.deepEqual(await rulesMentioning(id), [], 'no iptables rule names the container');
  const leases = (await readdir(join(env.opts.dir, 'ipam', 'conga0')).catch(() => [] as string[])).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
  assert.deepEqual(leases, [], 'the lease is released');
  assert.deepEqual(await readdir(join(env.opts.runDir, 'netns')).catch(() => []), [], 'the netns is removed');
});
