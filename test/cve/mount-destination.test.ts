import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/**
 * CVE-2022-23648 / CVE-2021-30465: a mount destination that goes through a symlink of the image
 * (absolute "/../../..", relative "../..", or into /proc) or that contains ".." must be resolved
 * inside the rootfs (runc's securejoin) or refused — never mount over or write to the host. The
 * image's config Volumes name the same hostile paths. Checked from the host: the target dir
 * keeps only its sentinel and is not a mount point; /proc/sys/kernel/core_pattern is unchanged.
 */

const hostTarget = mkdtempSync('/tmp/conga-cve-mnt-host-');
const bindSource = mkdtempSync('/tmp/conga-cve-mnt-src-');

function hostMountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter(Boolean);
}

function assertHostUntouched(what: string, corePattern: string): void {
  assert.deepEqual(readdirSync(hostTarget), ['sentinel'], `${what}: nothing was written to the host dir the symlink names`);
  assert.ok(!hostMountPoints().some((m) => m === hostTarget || m.startsWith(hostTarget + '/')), `${what}: nothing is mounted over the host dir`);
  assert.equal(readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), corePattern, `${what}: the host's core_pattern is unchanged`);
}

describe('CVE-2022-23648 / CVE-2021-30465: mount destinations stay inside the rootfs', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;
  const corePattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');

  before(async () => {
    writeFileSync(join(hostTarget, 'sentinel'), 'host\n');
    reg = await startRegistry();
    const up = '/..'.repeat(8);
    const img = await buildBusyboxImage({
      entryLayers: [
        [
          { name: 'abs', type: 'symlink', linkname: `${up}${hostTarget}` },
          { name: 'rel', type: 'symlink', linkname: `..${'/..'.repeat(8)}${hostTarget}` },
          { name: 'kern', type: 'symlink', linkname: '/proc/sys/kernel' },
        ],
      ],
      // docker would make anonymous volumes here; the paths must not escape either way.
      config: { Volumes: { '/abs': {}, '/rel/sub': {} } },
    });
    ref = (await pushImage(reg.host, 'cve/mountdest', 'latest', img)).reference;
    d = await startDaemon();
    const pull = await d.cli(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await d?.stop();
    await reg?.stop();
    rmSync(hostTarget, { recursive: true, force: true });
    rmSync(bindSource, { recursive: true, force: true });
  });

  test('-v / --mount / --tmpfs through an absolute or relative symlink land inside the container', async () => {
    const cases: Array<[string, string[], string]> = [
      ['-v through an absolute symlink', ['-v', `${bindSource}:/abs`], '/abs'],
      ['--mount through a relative symlink', ['--mount', `type=bind,source=${bindSource},target=/rel`], '/rel'],
      ['--tmpfs through an absolute symlink', ['--tmpfs', '/abs'], '/abs'],
      ['a volume below a relative symlink', ['-v', 'cvevol:/rel/deeper'], '/rel/deeper'],
    ];
    for (const [what, flags, dest] of cases) {
      const r = await d.cli(['run', '--rm', ...flags, ref, 'sh', '-c', `echo from-container > ${dest}/marker && cat ${dest}/marker`]);
      // runc resolves the symlink inside the rootfs (securejoin): the write goes to the mount.
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), 'from-container', what);
      assertHostUntouched(what, corePattern);
    }
    assert.equal(readFileSync(join(bindSource, 'marker'), 'utf8'), 'from-container\n', 'the bind mount was the one written');
  });

  test('a destination through a symlink into /proc is refused (or stays in the container) and leaves nothing', async () => {
    const r = await d.cli(['run', '--name', 'kern', '-v', `${bindSource}:/kern`, ref, 'sh', '-c', 'echo "|/x" > /kern/core_pattern']);
    assert.notEqual(r.code, 0, 'a mount over /proc/sys/kernel through a symlink must not succeed');
    assert.ok(r.stderr.trim().length > 0, 'the refusal says why');
    assertHostUntouched('symlink into /proc', corePattern);
    const rm = await d.cli(['rm', '-f', 'kern']);
    assert.equal(rm.code, 0, rm.stderr);
  });

  test('the image config Volumes through symlinks do not escape', async () => {
    const r = await d.cli(['run', '--rm', ref, 'sh', '-c', 'ls -la /abs/ /rel/ 2>&1; true']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /sentinel/, 'the container cannot see the host dir through the image symlinks');
    assertHostUntouched('image Volumes', corePattern);
  });

  test('".." in a destination is refused before anything is created', async () => {
    const before = (await d.api('GET', '/containers/json?all=1')).body.length;
    for (const hc of [
      { Binds: [`${bindSource}:/tmp/../../${hostTarget}`] },
      { Mounts: [{ Type: 'bind', Source: bindSource, Target: '/x/../../etc' }] },
      { Mounts: [{ Type: 'tmpfs', Target: '/../proc/sys' }] },
      { Tmpfs: { '/a/../../b': '' } },
    ]) {
      const r = await d.api('POST', '/containers/create', { Image: ref, Cmd: ['true'], HostConfig: hc });
      assert.equal(r.status, 400, JSON.stringify(hc));
      assert.match(String(r.body?.message), /must not contain "\.\."/, JSON.stringify(hc));
    }
    assert.equal((await d.api('GET', '/containers/json?all=1')).body.length, before, 'no container was created');
    assertHostUntouched('".." destinations', corePattern);
    assert.ok(existsSync(join(hostTarget, 'sentinel')));
  });
});
