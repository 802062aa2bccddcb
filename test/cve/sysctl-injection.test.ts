import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/**
 * CVE-2022-0811 (CRI-O's pinns split "a=1+b=2" into two sysctls and set kernel.core_pattern
 * on the host): each --sysctl value is one argument; a value with "+" or "=" is refused at
 * create, only namespaced sysctls are allowed (at start, like docker), and the host's
 * /proc/sys/kernel/core_pattern never changes. A namespaced one still works in the container.
 */

describe('CVE-2022-0811: sysctl injection', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;
  const corePattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'cve/sysctl', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon();
    const pull = await d.cli(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test('smuggled assignments and host sysctls are refused; core_pattern is unchanged', async () => {
    const cases: Array<[string, RegExp]> = [
      ['kernel.shm_rmid_forced=1+kernel.core_pattern=|/x', /contain no "=", "\+"/],
      ['kernel.shm_rmid_forced=1+kernel.core_pattern', /contain no "=", "\+"/],
      ['net.ipv4.ip_forward=1=kernel.core_pattern=|/x', /contain no "=", "\+"/],
      ['kernel.shm_rmid_forced=1\nkernel.core_pattern=|/x', /contain no "=", "\+"|line breaks/],
      ['kernel.core_pattern=|/x', /not allowed/],
      ['kernel.shm_rmid_forced+kernel.core_pattern=|/x', /invalid sysctl/],
      ['kernel/core_pattern=|/x', /invalid sysctl/],
      ['net.ipv4.../../kernel.core_pattern=|/x', /invalid sysctl|not allowed/],
    ];
    for (const [arg, re] of cases) {
      const r = await d.cli(['run', '--rm', '--sysctl', arg, ref, 'true']);
      assert.notEqual(r.code, 0, `--sysctl ${JSON.stringify(arg)} must be refused`);
      assert.match(r.stderr, re, `--sysctl ${JSON.stringify(arg)}`);
      assert.equal(readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), corePattern, `--sysctl ${JSON.stringify(arg)}: host core_pattern`);
    }
    // The API path too (no CLI splitting), and a net.* sysctl in the host network namespace.
    const api = await d.api('POST', '/containers/create', { Image: ref, Cmd: ['true'], HostConfig: { Sysctls: { 'kernel.shm_rmid_forced': '1+kernel.core_pattern=|/x' } } });
    assert.equal(api.status, 400);
    assert.match(String(api.body?.message), /contain no "=", "\+"/);
    const host = await d.cli(['run', '--name', 'hostnet', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', ref, 'true']);
    assert.notEqual(host.code, 0);
    assert.match(host.stderr, /host network namespace/);
    // Refused at start (docker's behaviour): remove what stayed Created.
    for (const c of (await d.api('GET', '/containers/json?all=1')).body) assert.equal((await d.cli(['rm', '-f', c.Id])).code, 0);
    assert.equal(readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), corePattern);
  });

  test('a namespaced sysctl is set inside the container only', async () => {
    const hostValue = readFileSync('/proc/sys/kernel/shm_rmid_forced', 'utf8').trim();
    const want = hostValue === '1' ? '0' : '1';
    const r = await d.cli(['run', '--rm', '--sysctl', `kernel.shm_rmid_forced=${want}`, ref, 'cat', '/proc/sys/kernel/shm_rmid_forced']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), want);
    assert.equal(readFileSync('/proc/sys/kernel/shm_rmid_forced', 'utf8').trim(), hostValue, "the host's value is unchanged");
  });
});
