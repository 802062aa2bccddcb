import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { startEngineFixture, until, type EngineFixture } from '../harness/engine-fixture';
import { buildBusyboxImage, pushImage, type TarEntry } from '../harness/busybox-image';

/**
 * `--system-container` (iSulad's system container, for systemd as init) on real runc: the
 * `container` env, tmpfs on /run, /run/lock, /tmp and /var/log/journal, the container's OWN
 * cgroup writable (never the host's tree), SIGRTMIN+3 as the stop signal, no cgroup left after
 * rm. The first test's init is a shell that stops on SIGRTMIN+3 like systemd does; the second
 * boots the host's real systemd (Debian 252) as pid 1 in an image made from its files.
 */
describe('system container (all-in-one)', () => {
  let f: EngineFixture;
  before(async () => {
    f = await startEngineFixture();
  });
  after(async () => {
    await f?.stop();
  });

  test('env, tmpfs mounts, own cgroup writable, SIGRTMIN+3 stop, cgroup removed with the container', async () => {
    const ref = f.refs.busybox;
    // 37 = SIGRTMIN+3: exit 0 on it, as systemd's clean shutdown does.
    await f.ok(['run', '-d', '--name', 'sys1', '--system-container', ref, 'sh', '-c', 'trap "exit 0" 37; while true; do sleep 0.1; done']);
    const c = await f.inspect('sys1');
    assert.equal(c.Config.StopSignal, 'SIGRTMIN+3');
    assert.equal(await f.ok(['exec', 'sys1', 'sh', '-c', 'echo $container']), 'conga\n');
    const mounts = await f.ok(['exec', 'sys1', 'cat', '/proc/mounts']);
    for (const m of ['/run', '/run/lock', '/tmp', '/var/log/journal']) assert.match(mounts, new RegExp(`^tmpfs ${m} tmpfs `, 'm'), m);
    // The container's own memory cgroup is writable (systemd makes its cgroups there) ...
    await f.ok(['exec', 'sys1', 'mkdir', '/sys/fs/cgroup/memory/init.scope']);
    const hostDir = `/sys/fs/cgroup/memory/conga/${c.Id}`;
    assert.ok(existsSync(`${hostDir}/init.scope`), 'created inside the container cgroup on the host');
    // ... and it is the container's subtree, not the host's tree (which has the conga parent).
    assert.doesNotMatch(await f.ok(['exec', 'sys1', 'ls', '/sys/fs/cgroup/memory']), /^conga$/m);

    await f.ok(['stop', '-t', '60', 'sys1']);
    assert.equal((await f.inspect('sys1')).State.ExitCode, 0, 'stopped by SIGRTMIN+3, not SIGKILL');
    await f.ok(['rm', 'sys1']);
    assert.equal(existsSync(hostDir), false, 'no cgroup left (nested ones included)');

    // A normal container keeps /sys/fs/cgroup read-only and the default stop signal.
    const r = await f.d.cli(['run', '--rm', ref, 'mkdir', '/sys/fs/cgroup/memory/x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Read-only file system/);
  });

  test('boots the real systemd as pid 1, in its own cgroup only, and halts cleanly on stop', async (t) => {
    const img = await buildBusyboxImage({ entryLayers: [systemdEntries()], cmd: ['/lib/systemd/systemd'] });
    const ref = (await pushImage(f.reg.host, 'systemd', 'latest', img)).reference;
    await f.ok(['pull', ref]);
    await f.ok(['run', '-d', '--name', 'sysd', '--system-container', ref]);
    const id = (await f.inspect('sysd')).Id as string;
    const booted = Date.now();
    try {
      let state = '';
      await until(
        'systemctl is-system-running: running or degraded',
        async () => {
          // Non-zero while starting and when degraded: the printed state is what counts.
          state = (await f.d.cli(['exec', 'sysd', 'systemctl', 'is-system-running'])).stdout.trim();
          return state === 'running' || state === 'degraded';
        },
        60_000,
      );
      t.diagnostic(`systemd ${state} after ${Date.now() - booted} ms`);

      // systemd made its cgroups inside the container's own name=systemd cgroup on the host. There is
      // no cgroup namespace, so /proc/1/cgroup shows host paths and systemd nests its tree under
      // <parent>/<id> again, relative to the container's own directory it has at /sys/fs/cgroup/systemd.
      const hostDir = `/sys/fs/cgroup/systemd/conga/${id}`;
      const own = (await f.ok(['exec', 'sysd', 'cat', '/proc/1/cgroup'])).match(/:name=systemd:(\/.*)\/init\.scope$/m);
      assert.ok(own, 'pid 1 is in an init.scope made by systemd');
      assert.equal(own[1], `/conga/${id}/conga/${id}`, 'inside the container cgroup');
      assert.ok(existsSync(`/sys/fs/cgroup/systemd${own[1]}/init.scope`), `init.scope lies under ${hostDir} on the host`);
      // The container sees exactly its own directory, none of the host's (no docker, k8s.io, other ids).
      const inside = (await f.ok(['exec', 'sysd', 'ls', '/sys/fs/cgroup/systemd'])).split('\n').filter(Boolean).sort();
      assert.deepEqual(inside, readdirSync(hostDir).sort());
      assert.deepEqual(
        (await f.ok(['exec', 'sysd', 'ls', '/sys/fs/cgroup/systemd/conga'])).split('\n').filter(Boolean),
        readdirSync(`${hostDir}/conga`),
        'only the nested copy of the own path, not the host conga parent with other containers',
      );

      const t0 = Date.now();
      await f.ok(['stop', '-t', '30', 'sysd'], { timeoutMs: 60_000 });
      const took = Date.now() - t0;
      const st = (await f.inspect('sysd')).State;
      assert.equal(st.ExitCode, 0, 'systemd halted by itself on SIGRTMIN+3, not SIGKILL');
      t.diagnostic(`stop took ${took} ms`);
      assert.ok(took < 30_000, `stopped before the 30 s stop timeout (took ${took} ms)`);
    } finally {
      await f.d.cli(['rm', '-f', 'sysd']);
    }
    const left = readdirSync('/sys/fs/cgroup').filter((h) => existsSync(`/sys/fs/cgroup/${h}/conga/${id}`));
    assert.deepEqual(left, [], 'no cgroup of the container left in any hierarchy');
  });
});

/**
 * Layer with the host's systemd, systemctl and systemd-shutdown (exec'd on halt), the libraries
 * `ldd` names for them and the loader, a minimal /etc and our own tiny units: default.target pulls
 * nothing; halt.target (what SIGRTMIN+3 starts) runs `systemctl --force halt`.
 */
function systemdEntries(): TarEntry[] {
  const bins = ['/lib/systemd/systemd', '/lib/systemd/systemd-shutdown', '/bin/systemctl'];
  const files = new Map<string, Buffer>();
  for (const b of bins) {
    files.set(b, readFileSync(b));
    for (const m of execFileSync('ldd', [b], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)) files.set(m[1], readFileSync(m[1]));
  }
  const text = {
    '/etc/os-release': 'NAME="Conga test"\nID=conga-test\n',
    '/etc/machine-id': '',
    '/lib/systemd/system/default.target': '[Unit]\nDescription=Tiny boot\n',
    '/lib/systemd/system/halt.target': '[Unit]\nDescription=Halt\nDefaultDependencies=no\nRequires=systemd-halt.service\nAfter=systemd-halt.service\nAllowIsolate=yes\n',
    '/lib/systemd/system/systemd-halt.service':
      '[Unit]\nDescription=Halt\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/systemctl --force halt\n',
  };
  const out: TarEntry[] = [];
  const dirs = new Set<string>();
  const addDirs = (path: string) => {
    const parts = path.split('/').filter(Boolean).slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) out.push({ name: `${d}/`, type: 'directory' }), dirs.add(d);
    }
  };
  for (const [path, data] of [...files, ...Object.entries(text).map(([p, t]) => [p, Buffer.from(t)] as const)]) {
    addDirs(path);
    out.push({ name: path.slice(1), type: 'file', mode: files.has(path) ? 0o755 : 0o644, data });
  }
  return out;
}
