import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { E, newContext, silentLogger } from '@conga/common';
import { existingCgroupDirs } from './cgroups';
import { createExecutorService, type LocalExecutorService } from './executor-service';
import { makeBusyboxRootfs } from './busybox-rootfs';
import { Runc } from './runc';
import { isSameProcess } from './procfs';

const ctx = () => newContext();

interface Env {
  dir: string;
  runDir: string;
  rootfs: string;
  open(): Promise<LocalExecutorService>;
  bundle(id: string): string;
}

/** Temp dirs plus cleanup: every task under runDir is force-deleted, every service closed. */
function setup(t: TestContext): Env {
  const dir = mkdtempSync(join(tmpdir(), 'conga-exec-t-'));
  const runDir = join(dir, 'run');
  const rootfs = makeBusyboxRootfs(join(dir, 'rootfs'));
  const services: LocalExecutorService[] = [];
  t.after(async () => {
    const svc = await createExecutorService({ runDir, log: silentLogger() });
    for (const task of (await svc.listTasks({}, ctx())).tasks) await svc.deleteTask({ containerId: task.containerId, force: true }, ctx());
    for (const s of [...services, svc]) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    runDir,
    rootfs,
    async open() {
      const s = await createExecutorService({ runDir, log: silentLogger() });
      services.push(s);
      return s;
    },
    bundle: (id) => join(dir, 'bundles', id),
  };
}

/** Wait (without a deadline assertion) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await sleep(25);
}

test('a task survives a SIGKILLed executor and a new executor sees and stops it', async (t) => {
  const env = setup(t);
  const id = 'survivor';
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'start-task.ts'), env.runDir, env.bundle(id), env.rootfs, id, JSON.stringify(['sleep', '300'])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
  });
  const started = JSON.parse(line);
  assert.equal(started.status, 'RUNNING');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  const svc = await env.open();
  const seen = await svc.getTask({ containerId: id }, ctx());
  assert.equal(seen.status, 'RUNNING');
  assert.equal(seen.pid, started.pid);
  assert.equal(seen.monitorPid, started.monitorPid);
  assert.ok(isSameProcess(seen.pid, undefined), 'container process still alive');
  assert.ok(seen.startedAt);
  const listed = await svc.listTasks({}, ctx());
  assert.deepEqual(listed.tasks.map((x) => [x.containerId, x.status]), [[id, 'RUNNING']]);

  const waiting = svc.waitTask({ containerId: id }, ctx());
  await svc.killTask({ containerId: id, signal: 9 }, ctx());
  const done = await waiting;
  assert.equal(done.status, 'STOPPED');
  assert.equal(done.exitCode, 137);
  await svc.deleteTask({ containerId: id }, ctx());
  assert.equal(existsSync(join(env.runDir, id)), false);
  assert.equal(existsSync(join(env.runDir, 'exits', id)), false);
});

test('an exit while no executor runs is reported with its real exit code', async (t) => {
  const env = setup(t);
  const id = 'quiet-exit';
  const first = await env.open();
  await first.createTask({ containerId: id, bundleDir: env.bundle(id), spec: { rootfs: env.rootfs, process: { args: ['sh', '-c', 'trap "exit 7" USR1; touch /tmp/ready-quiet; sleep 300 & wait'] } } }, ctx());
  const running = await first.startTask({ containerId: id }, ctx());
  await first.close();
  await until(() => existsSync(join(env.rootfs, 'tmp', 'ready-quiet')));
  // No executor now: make the container exit on its own.
  process.kill(running.pid, 'SIGUSR1');
  await until(() => existsSync(join(env.runDir, 'exits', id)));
  const second = await env.open();
  const t2 = await second.getTask({ containerId: id }, ctx());
  assert.equal(t2.status, 'STOPPED');
  assert.equal(t2.exitCode, 7);
  assert.equal(t2.exitReason, '');
  assert.equal((await second.waitTask({ containerId: id }, ctx())).exitCode, 7);
});

test('a dead monitor is detected and reported as exit 255 with a reason', async (t) => {
  const env = setup(t);
  const id = 'orphan';
  const svc = await env.open();
  const c = await svc.createTask({ containerId: id, bundleDir: env.bundle(id), spec: { rootfs: env.rootfs, process: { args: ['sleep', '300'] } } }, ctx());
  await svc.startTask({ containerId: id }, ctx());
  const waiting = svc.waitTask({ containerId: id }, ctx());
  process.kill(c.monitorPid, 'SIGKILL');
  await until(() => !isSameProcess(c.monitorPid, undefined));
  const alive = await svc.getTask({ containerId: id }, ctx());
  assert.equal(alive.status, 'RUNNING');
  assert.match(alive.exitReason, /monitor/);
  process.kill(c.pid, 'SIGKILL');
  const done = await waiting;
  assert.equal(done.status, 'STOPPED');
  assert.equal(done.exitCode, 255);
  assert.match(done.exitReason, /monitor \(conmon\) exited/);
  await svc.deleteTask({ containerId: id }, ctx());
  assert.equal(existsSync(join(env.runDir, id)), false);
});

test('a failing create leaves no runc state, monitor, cgroup or files', async (t) => {
  const env = setup(t);
  const svc = await env.open();
  const id = 'broken';
  const bundle = env.bundle(id);
  await assert.rejects(
    svc.createTask({ containerId: id, bundleDir: bundle, logPath: join(env.dir, 'broken.log'), spec: { rootfs: env.rootfs, process: { args: ['/nonexistent'] } } }, ctx()),
    (e) => E.RuntimeFailed.is(e) && /\/nonexistent/.test(e.message),
  );
  const runc = new Runc('runc', join(env.runDir, 'runc'));
  assert.equal((await runc.list()).size, 0);
  assert.deepEqual(existingCgroupDirs(`/conga/${id}`), []);
  assert.equal(existsSync(join(env.runDir, id)), false);
  assert.equal(existsSync(join(env.runDir, 'exits', id)), false);
  assert.equal(existsSync(join(env.runDir, 'sockets', id)), false);
  assert.equal(existsSync(bundle), false, 'the bundle dir we created is removed');
  const monitors = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(bundle);
    } catch {
      return false;
    }
  });
  assert.deepEqual(monitors, []);
});

test('a deleted task leaves no cgroup and concurrent creates of one id serialize', async (t) => {
  const env = setup(t);
  const svc = await env.open();
  const id = 'racer';
  const mk = () => svc.createTask({ containerId: id, bundleDir: env.bundle(id), spec: { rootfs: env.rootfs, process: { args: ['sleep', '300'] } } }, ctx());
  const results = await Promise.allSettled([mk(), mk(), mk()]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) if (r.status === 'rejected') assert.ok(E.TaskExists.is(r.reason));
  await svc.startTask({ containerId: id }, ctx());
  assert.notDeepEqual(existingCgroupDirs(`/conga/${id}`), []);
  const others = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((x) =>
    svc.createTask({ containerId: x, bundleDir: env.bundle(x), spec: { rootfs: env.rootfs, process: { args: ['sh', '-c', 'exit 5'] } } }, ctx())));
  await Promise.all(others.map((o) => svc.startTask({ containerId: o.containerId }, ctx())));
  for (const o of others) assert.equal((await svc.waitTask({ containerId: o.containerId }, ctx())).exitCode, 5);
  await svc.deleteTask({ containerId: id, force: true }, ctx());
  assert.deepEqual(existingCgroupDirs(`/conga/${id}`), []);
  for (const o of others) await svc.deleteTask({ containerId: o.containerId }, ctx());
  assert.deepEqual((await svc.listTasks({}, ctx())).tasks, []);
});

test('a monitor that never reports is killed after the create timeout and nothing is left', async (t) => {
  const env = setup(t);
  const fake = join(env.dir, 'fake-conmon');
  const marker = join(env.dir, 'fake-conmon.pid');
  writeFileSync(fake, `#!/bin/sh\necho $$ > ${marker}\nexec sleep 300\n`, { mode: 0o755 });
  const svc = await createExecutorService({ runDir: env.runDir, conmon: fake, createTimeoutMs: 300, log: silentLogger() });
  t.after(() => svc.close());
  const id = 'silent';
  await assert.rejects(
    svc.createTask({ containerId: id, bundleDir: env.bundle(id), spec: { rootfs: env.rootfs, process: { args: ['true'] } } }, ctx()),
    (e) => E.RuntimeFailed.is(e) && /did not report/.test(e.message),
  );
  const pid = Number(readFileSync(marker, 'utf8'));
  await until(() => !isSameProcess(pid, undefined));
  assert.equal(existsSync(join(env.runDir, id)), false);
  assert.equal(existsSync(env.bundle(id)), false);
  await assert.rejects(svc.getTask({ containerId: id }, ctx()), (e) => E.TaskNotFound.is(e));
});

test('a monitor that exits without reporting gives a clear error', async (t) => {
  const env = setup(t);
  const fake = join(env.dir, 'fake-conmon');
  writeFileSync(fake, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  const svc = await createExecutorService({ runDir: env.runDir, conmon: fake, log: silentLogger() });
  t.after(() => svc.close());
  await assert.rejects(
    svc.createTask({ containerId: 'gone', bundleDir: env.bundle('gone'), spec: { rootfs: env.rootfs, process: { args: ['true'] } } }, ctx()),
    (e) => E.RuntimeFailed.is(e) && /without reporting/.test(e.message),
  );
  assert.equal(existsSync(join(env.runDir, 'gone')), false);
  await assert.rejects(createExecutorService({ runDir: env.runDir, conmon: join(env.dir, 'missing'), log: silentLogger() }), (e) => E.ServiceUnavailable.is(e));
});
