import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../harness/daemon';

/**
 * deploy/systemd passes `systemd-analyze verify` (Debian's systemd). The units are verified in a
 * scratch root holding the system's own units and stub binaries at the paths the units name,
 * so that the check needs no install of conga on this machine.
 */
test('deploy: systemd units pass systemd-analyze verify', (t) => {
  const units = join(REPO, 'deploy', 'systemd');
  const root = mkdtempSync(join(tmpdir(), 'conga-units-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'lib/systemd'), { recursive: true });
  cpSync('/lib/systemd/system', join(root, 'lib/systemd/system'), { recursive: true });
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  const names = readdirSync(units).filter((n) => /\.(service|target|socket)$/.test(n));
  assert.ok(names.length >= 8, `only ${names.length} units in deploy/systemd`);
  const bins = new Set<string>();
  for (const n of names) {
    const text = readFileSync(join(units, n), 'utf8');
    writeFileSync(join(root, 'etc/systemd/system', n), text);
    for (const m of text.matchAll(/^Exec\w+=[-@+!]*(\/\S+)/gm)) bins.add(m[1]);
  }
  for (const b of bins) {
    if (b.startsWith('/usr/local/')) {
      mkdirSync(join(root, b, '..'), { recursive: true });
      writeFileSync(join(root, b), '#!/bin/sh\n');
      chmodSync(join(root, b), 0o755);
    } else {
      // System binaries (redis-server, mkdir) must be the real ones in the scratch root too.
      mkdirSync(join(root, b, '..'), { recursive: true });
      cpSync(b, join(root, b), { dereference: true });
    }
  }
  // A template is verified through an instance.
  const args = names.map((n) => `/etc/systemd/system/${n.replace('@.service', '@1.service')}`);
  const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...args], { encoding: 'utf8' });
  const ours = (r.stdout + r.stderr).split('\n').filter((l) => /conga/.test(l));
  assert.deepEqual(ours, [], `systemd-analyze verify complained:\n${r.stdout}${r.stderr}`);
  assert.equal(r.status, 0, r.stdout + r.stderr);

  // The check can fail: a unit naming a missing binary and an unknown key is refused.
  writeFileSync(join(root, 'etc/systemd/system/conga-bad.service'), '[Service]\nExecStart=/usr/local/bin/conga-missing\nBogusKey=1\n');
  const bad = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/conga-bad.service'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout + bad.stderr, /BogusKey/);
});

test('deploy: daemon.json.example holds every daemon.json key and is valid', async () => {
  const { defaultConfig, parseConfig } = await import('@conga/common');
  const example = JSON.parse(readFileSync(join(REPO, 'deploy', 'daemon.json.example'), 'utf8'));
  parseConfig(example, 'deploy/daemon.json.example');
  assert.deepEqual(Object.keys(example).sort(), Object.keys(defaultConfig).sort());
  const readme = readFileSync(join(REPO, 'deploy', 'README.md'), 'utf8');
  for (const k of Object.keys(defaultConfig)) assert.match(readme, new RegExp(`^\\| ${k} \\|`, 'm'), `deploy/README.md does not document "${k}"`);
});
