import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { spawnSync } from 'node:child_process';
import { mountsUnder, runcList, startDaemon, type Daemon } from '../harness/daemon';

/**
 * Container lifecycle through the bundled CLI and a real congad (all-in-one): run/create flags
 * turned into the OCI spec and really applied by runc (cgroup v1 here), lifecycle commands,
 * restart policies, events, stats/top/update, volumes and bad input.
 */

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('container lifecycle (all-in-one)', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;
  let tmp: string;
  const runcRoot = () => join(d.run, 'executor', 'runc');
  const overlays = () => mountsUnder(d.root).filter((m) => m.endsWith('/merged'));
  const ok = async (args: string[]) => {
    const r = await d.cli(args);
    assert.equal(r.code, 0, `conga ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const inspect = async (name: string) => (await d.api('GET', `/containers/${name}/json`)).body;

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    await ok(['pull', ref]);
    tmp = mkdtempSync(join(tmpdir(), 'conga-life-'));
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('process flags: env, env-file, workdir, user, entrypoint, hostname, labels', async () => {
    const envFile = join(tmp, 'env');
    writeFileSync(envFile, '# comment\nFROM_FILE=yes\n');
    const out = await ok(['run', '--rm', '-e', 'A=1', '--env-file', envFile, '-w', '/tmp', '-u', 'nobody', '-h', 'box', '-l', 'k=v',
      '--entrypoint', 'sh', ref, '-c', 'echo $A $FROM_FILE $(pwd) $(id -u) $(hostname)']);
    assert.equal(out, `1 yes /tmp ${65534} box\n`);
  });

  test('security: read-only rootfs, cap-drop, privileged, no-new-privileges, default seccomp', async () => {
    const ro = await d.cli(['run', '--rm', '--read-only', ref, 'sh', '-c', 'touch /x']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    const capDrop = await d.cli(['run', '--rm', '--cap-drop', 'CHOWN', ref, 'chown', '1', '/tmp']);
    assert.notEqual(capDrop.code, 0);
    assert.match(capDrop.stderr, /Operation not permitted/);
    // Privileged: every capability this host can grant (the engine's bounding set).
    const hostBnd = readFileSync('/proc/self/status', 'utf8').match(/CapBnd:\s*([0-9a-f]+)/)![1];
    assert.equal((await ok(['run', '--rm', '--privileged', ref, 'sh', '-c', 'grep CapEff /proc/self/status'])).trim(), `CapEff:\t${hostBnd}`);
    assert.match(await ok(['run', '--rm', '--security-opt', 'no-new-privileges', ref, 'grep', 'NoNewPrivs', '/proc/self/status']), /NoNewPrivs:\s+1/);
    assert.match(await ok(['run', '--rm', ref, 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+2/);
    // The default profile refuses new user namespaces (unshare -U) while unconfined allows them.
    const us = await d.cli(['run', '--rm', ref, 'unshare', '-U', 'true']);
    assert.notEqual(us.code, 0);
    assert.match(await ok(['run', '--rm', '--security-opt', 'seccomp=unconfined', ref, 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+0/);
  });

  test('mounts: -v bind (ro), --mount bind, --tmpfs, named volume', async () => {
    const src = mkdtempSync(join(tmp, 'bind-'));
    writeFileSync(join(src, 'f'), 'from-host\n');
    assert.equal(await ok(['run', '--rm', '-v', `${src}:/data:ro`, ref, 'cat', '/data/f']), 'from-host\n');
    const w = await d.cli(['run', '--rm', '-v', `${src}:/data:ro`, ref, 'sh', '-c', 'echo x > /data/g']);
    assert.notEqual(w.code, 0);
    await ok(['run', '--rm', '--mount', `type=bind,source=${src},target=/m`, ref, 'sh', '-c', 'echo written > /m/g']);
    assert.equal(readFileSync(join(src, 'g'), 'utf8'), 'written\n');
    assert.match(await ok(['run', '--rm', '--tmpfs', '/scratch:size=1m', ref, 'sh', '-c', 'grep /scratch /proc/mounts']), /tmpfs \/scratch tmpfs .*size=1024k/);
    await ok(['run', '--rm', '-v', 'vol1:/v', ref, 'sh', '-c', 'echo kept > /v/k']);
    assert.equal(await ok(['run', '--rm', '-v', 'vol1:/v', ref, 'cat', '/v/k']), 'kept\n');
    assert.match(await ok(['volume', 'ls']), /local\s+vol1/);
    await ok(['volume', 'rm', 'vol1']);
  });

  test('resources: memory, swap, cpus, cpu-shares, cpuset, pids-limit, ulimit reach the cgroup', async () => {
    await ok(['run', '-d', '--name', 'res', '-m', '64m', '--memory-swap', '128m', '--cpus', '0.5', '--cpu-shares', '512',
      '--cpuset-cpus', '0', '--pids-limit', '50', '--ulimit', 'nofile=1000:2000', ref, 'sleep', '300']);
    const c = await inspect('res');
    assert.equal(c.HostConfig.Memory, 64 * 1024 * 1024);
    const cg = (ctl: string, file: string) => readFileSync(`/sys/fs/cgroup/${ctl}/conga/${c.Id}/${file}`, 'utf8').trim();
    assert.equal(cg('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    assert.equal(cg('memory', 'memory.memsw.limit_in_bytes'), String(128 * 1024 * 1024));
    assert.equal(cg('cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(cg('cpu', 'cpu.shares'), '512');
    assert.equal(cg('cpuset', 'cpuset.cpus'), '0');
    assert.equal(cg('pids', 'pids.max'), '50');
    const limits = readFileSync(`/proc/${c.State.Pid}/limits`, 'utf8');
    assert.match(limits, /Max open files\s+1000\s+2000/);
    // update changes limits live; stats and top read the cgroup.
    await ok(['update', '-m', '96m', '--memory-swap', '192m', '--pids-limit', '60', 'res']);
    assert.equal(cg('memory', 'memory.limit_in_bytes'), String(96 * 1024 * 1024));
    assert.equal(cg('pids', 'pids.max'), '60');
    const stats = await ok(['stats', '--no-stream', 'res']);
    assert.match(stats, /CONTAINER ID\s+NAME\s+CPU %/);
    assert.match(stats, /res\s+\d+\.\d\d%\s+[\d.]+[KMG]?i?B \/ 96MiB/);
    const top = await ok(['top', 'res']);
    assert.match(top, /UID\s+PID\s+PPID/);
    assert.match(top, /sleep 300/);
    await ok(['rm', '-f', 'res']);
    assert.equal(existsSync(`/sys/fs/cgroup/memory/conga/${c.Id}`), false);
  });

  test('create/start/pause/unpause/rename/kill/wait/restart/inspect/prune, with events', async () => {
    const since = String(Date.now() / 1000);
    const id = (await ok(['create', '--name', 'life', '--stop-signal', 'SIGUSR1', '--stop-timeout', '3', ref, 'sleep', '300'])).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.Config.StopSignal}} {{.Config.StopTimeout}}', 'life'])).trim(), 'created SIGUSR1 3');
    assert.equal((await ok(['start', 'life'])).trim(), 'life');
    await ok(['pause', 'life']);
    assert.equal((await inspect('life')).State.Status, 'paused');
    assert.equal(runcList(runcRoot()).find((c) => c.id === id)?.status, 'paused');
    const rm = await d.cli(['rm', 'life']);
    assert.notEqual(rm.code, 0);
    await ok(['unpause', 'life']);
    await ok(['rename', 'life', 'life2']);
    assert.equal((await inspect('life2')).Name, '/life2');
    const restarted = Date.parse((await inspect('life2')).State.StartedAt);
    await ok(['restart', '-t', '1', 'life2']);
    assert.ok(Date.parse((await inspect('life2')).State.StartedAt) > restarted);
    const wait = d.cli(['wait', 'life2']);
    // sleep is pid 1 and has no TERM handler: the default KILL ends it.
    await ok(['kill', 'life2']);
    assert.equal((await wait).stdout.trim(), '137');
    assert.match(await ok(['ps', '-a', '--filter', 'exited=137']), /life2/);
    const prune = await ok(['container', 'prune', '-f']);
    assert.match(prune, new RegExp(id));
    const ev = await ok(['events', '--since', since, '--until', String(Date.now() / 1000), '--filter', `container=${id}`]);
    for (const a of ['create', 'start', 'pause', 'unpause', 'rename', 'kill', 'die', 'destroy']) assert.match(ev, new RegExp(` container ${a} ${id}`), a);
    assert.match(ev, /die [a-f0-9]{64} \(exitCode=137/);
    const dieOnly = await ok(['events', '--since', since, '--until', String(Date.now() / 1000), '--filter', 'event=die', '--format', '{{.Actor.Attributes.name}}']);
    assert.match(dieOnly, /life2/);
    assert.doesNotMatch(dieOnly, /create/);
  });

  test('restart policies: on-failure:2 retries twice; always restarts; stop ends it', async () => {
    await ok(['run', '-d', '--name', 'onf', '--restart', 'on-failure:2', ref, 'sh', '-c', 'exit 3']);
    await until('two retries', async () => {
      const c = await inspect('onf');
      return c.RestartCount === 2 && c.State.Status === 'exited';
    });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await inspect('onf')).RestartCount, 2);
    await ok(['rm', 'onf']);
    await ok(['run', '-d', '--name', 'alw', '--restart', 'always', ref, 'sh', '-c', 'sleep 0.3; exit 0']);
    await until('restarted', async () => (await inspect('alw')).RestartCount >= 1);
    await ok(['stop', '-t', '1', 'alw']);
    await new Promise((r) => setTimeout(r, 1000));
    const c = await inspect('alw');
    assert.notEqual(c.State.Status, 'running');
    const n = c.RestartCount;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await inspect('alw')).RestartCount, n);
    await ok(['rm', '-f', 'alw']);
  });

  test('the real docker CLI drives the same lifecycle and flags', { skip: !existsSync('/usr/local/bin/docker') && 'no docker CLI' }, async () => {
    const docker = async (args: string[]) => {
      const r = spawnSync('/usr/local/bin/docker', args, { env: { ...process.env, DOCKER_HOST: `unix://${d.socket}` }, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const src = mkdtempSync(join(tmp, 'dk-'));
    writeFileSync(join(src, 'f'), 'hi\n');
    // Detached + logs: attach through the docker CLI is the interactive suite's business.
    await docker(['create', '--name', 'dkf', '-e', 'X=1', '-w', '/tmp', '-v', `${src}:/d:ro`, '--tmpfs', '/t', '-m', '64m', '--pids-limit', '20', '--cap-drop', 'ALL', ref, 'sh', '-c', 'echo $X $(pwd) $(cat /d/f)']);
    await docker(['start', 'dkf']);
    assert.equal((await docker(['wait', 'dkf'])).trim(), '0');
    assert.equal(await docker(['logs', 'dkf']), '1 /tmp hi\n');
    await docker(['rm', 'dkf']);
    await docker(['create', '--name', 'dk', '--restart', 'unless-stopped', '--cpus', '0.5', ref, 'sleep', '300']);
    await docker(['start', 'dk']);
    await docker(['pause', 'dk']);
    assert.equal((await docker(['inspect', '-f', '{{.State.Status}}', 'dk'])).trim(), 'paused');
    await docker(['unpause', 'dk']);
    await docker(['update', '--memory', '80m', '--memory-swap', '160m', 'dk']);
    assert.match(await docker(['stats', '--no-stream', 'dk']), /dk\s+[\d.]+%\s+.* \/ 80MiB/);
    assert.match(await docker(['top', 'dk']), /sleep 300/);
    await docker(['rename', 'dk', 'dk2']);
    await docker(['restart', '-t', '1', 'dk2']);
    await docker(['kill', 'dk2']);
    assert.equal((await docker(['wait', 'dk2'])).trim(), '137');
    await docker(['rm', 'dk2']);
    await docker(['volume', 'create', 'dv']);
    assert.match(await docker(['volume', 'ls']), /dv/);
    await docker(['volume', 'rm', 'dv']);
  });

  test('exactly one of 20 concurrent creates with the same name wins', async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, () => d.api('POST', '/containers/create?name=same', { Image: ref, Cmd: ['true'] })));
    assert.equal(rs.filter((r) => r.status === 201).length, 1);
    assert.equal(rs.filter((r) => r.status === 409).length, 19);
    assert.match(rs.find((r) => r.status === 409)!.body.message, /already in use/);
    await ok(['rm', 'same']);
    assert.deepEqual((await d.api('GET', '/containers/json?all=1')).body, []);
  });

  test('bad input is refused with a clear error and leaves nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['run', '--rm', '--restart', 'always', ref, 'true'], /cannot both remove and restart/],
      [['run', '-m', '12qb', ref, 'true'], /invalid argument "12qb" for "-m, --memory"/],
      [['run', '-v', '/does/not/exist:/x', ref, 'true'], /bind source path does not exist: \/does\/not\/exist/],
      [['run', '--mount', 'type=bind,source=/nope,target=/x', ref, 'true'], /bind source path does not exist/],
      [['run', '--restart', 'sometimes', ref, 'true'], /invalid restart policy/],
      [['run', '--ulimit', 'bogus=1', ref, 'true'], /invalid ulimit type: bogus/],
      [['run', '--security-opt', 'weird', ref, 'true'], /invalid --security-opt/],
      [['run', '--sysctl', 'kernel.hostname=x', ref, 'true'], /not allowed/],
      [['run', '-v', `${tmp}:/`, ref, 'true'], /destination can't be '\/'/],
      [['run', '--frobnicate', ref, 'true'], /unknown flag: --frobnicate/],
      [['kill', 'ghost'], /No such container: ghost/],
      [['pause', 'ghost'], /No such container: ghost/],
    ];
    for (const [args, re] of cases) {
      const r = await d.cli(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    // The sysctl case is refused at start: its container stays "Created" like docker's; remove it.
    for (const c of (await d.api('GET', '/containers/json?all=1')).body) await ok(['rm', '-f', c.Id]);
    assert.deepEqual(overlays(), []);
    assert.deepEqual(runcList(runcRoot()), []);
  });
});
