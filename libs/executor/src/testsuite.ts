import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { E, newContext } from '@conga/common';
import type { ExecutorService, Task } from '@conga/api';
import { makeBusyboxRootfs } from './busybox-rootfs';

/** A service under test and how to dispose of it. */
export interface ConformanceTarget {
  svc: ExecutorService;
  cleanup(): Promise<void>;
}

/**
 * Conformance suite for any {@link ExecutorService} (in process or a gRPC proxy). Needs root,
 * runc, conmon and /bin/busybox. Registers node:test tests named `<name>: ...`.
 * Owned by the executor; other implementations must pass it unchanged.
 */
export function conformance(name: string, make: () => Promise<ConformanceTarget>): void {
  const ctx = () => newContext();

  interface Env {
    svc: ExecutorService;
    dir: string;
    rootfs: string;
    /** A fresh id; deleted (force) after the test. */
    newId(): string;
    create(id: string, args: string[], extra?: { logPath?: string }): Promise<Task>;
  }

  async function setup(t: TestContext): Promise<Env> {
    const target = await make();
    const dir = mkdtempSync(join(tmpdir(), 'conga-exec-conf-'));
    const rootfs = makeBusyboxRootfs(join(dir, 'rootfs'));
    const ids: string[] = [];
    t.after(async () => {
      for (const id of ids) await target.svc.deleteTask({ containerId: id, force: true }, ctx()).catch(() => undefined);
      await target.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });
    return {
      svc: target.svc,
      dir,
      rootfs,
      newId() {
        const id = `conf-${randomBytes(6).toString('hex')}`;
        ids.push(id);
        return id;
      },
      create(id, args, extra = {}) {
        return target.svc.createTask(
          { containerId: id, bundleDir: join(dir, 'bundles', id), logPath: extra.logPath ?? '', spec: { rootfs, process: { args } } },
          ctx(),
        );
      },
    };
  }

  test(`${name}: echo runs, logs in k8s-file format and exits 0`, async (t) => {
    const env = await setup(t);
    const id = env.newId();
    const logPath = join(env.dir, `${id}.log`);
    const created = await env.create(id, ['echo', 'hello'], { logPath });
    assert.equal(created.status, 'CREATED');
    assert.ok(created.pid > 0);
    assert.ok(created.monitorPid > 0);
    const started = await env.svc.startTask({ containerId: id }, ctx());
    assert.ok(started.status === 'RUNNING' || started.status === 'STOPPED');
    const done = await env.svc.waitTask({ containerId: id }, ctx());
    assert.equal(done.status, 'STOPPED');
    assert.equal(done.exitCode, 0);
    assert.equal(done.exitReason, '');
    assert.ok(!Number.isNaN(Date.parse(done.startedAt)), `startedAt ${done.startedAt}`);
    assert.ok(!Number.isNaN(Date.parse(done.exitedAt)), `exitedAt ${done.exitedAt}`);
    const log = readFileSync(logPath, 'utf8');
    assert.match(log, /^\S+ stdout F hello$/m);
  });

  test(`${name}: exit code is reported`, async (t) => {
    const env = await setup(t);
    const id = env.newId();
    await env.create(id, ['sh', '-c', 'exit 3']);
    await env.svc.startTask({ containerId: id }, ctx());
    const done = await env.svc.waitTask({ containerId: id }, ctx());
    assert.equal(done.status, 'STOPPED');
    assert.equal(done.exitCode, 3);
    const again = await env.svc.getTask({ containerId: id }, ctx());
    assert.equal(again.exitCode, 3);
  });

  test(`${name}: running task, waitTask timeout, SIGTERM and SIGKILL`, async (t) => {
    const env = await setup(t);
    const a = env.newId();
    const b = env.newId();
    // The trap must be in place before the signal: pid 1 without a handler ignores SIGTERM.
    await env.create(a, ['sh', '-c', `trap "exit 143" TERM; touch /tmp/ready-${a}; sleep 300 & wait`]);
    await env.create(b, ['sleep', '300']);
    await env.svc.startTask({ containerId: a }, ctx());
    await env.svc.startTask({ containerId: b }, ctx());
    const running = await env.svc.getTask({ containerId: a }, ctx());
    assert.equal(running.status, 'RUNNING');
    assert.ok(running.pid > 0);
    const timedOut = await env.svc.waitTask({ containerId: a, timeoutMs: 200 }, ctx());
    assert.equal(timedOut.status, 'RUNNING');
    const list = await env.svc.listTasks({}, ctx());
    const mine = list.tasks.filter((x) => x.containerId === a || x.containerId === b);
    assert.deepEqual(mine.map((x) => x.status), ['RUNNING', 'RUNNING']);

    while (!existsSync(join(env.rootfs, 'tmp', `ready-${a}`))) await sleep(20);
    const waiters = Array.from({ length: 8 }, () => env.svc.waitTask({ containerId: a }, ctx()));
    await env.svc.killTask({ containerId: a, signal: 15 }, ctx());
    for (const w of await Promise.all(waiters)) {
      assert.equal(w.status, 'STOPPED');
      assert.equal(w.exitCode, 143);
    }
    // sleep as pid 1 ignores SIGTERM; SIGKILL always ends it.
    await env.svc.killTask({ containerId: b, signal: 9 }, ctx());
    const kb = await env.svc.waitTask({ containerId: b }, ctx());
    assert.equal(kb.exitCode, 137);
    await assert.rejects(env.svc.killTask({ containerId: b, signal: 9 }, ctx()), (e) => E.TaskState.is(e));
  });

  test(`${name}: state rules, duplicates and idempotent delete`, async (t) => {
    const env = await setup(t);
    const id = env.newId();
    await env.create(id, ['sleep', '300']);
    await assert.rejects(env.create(id, ['sleep', '1']), (e) => E.TaskExists.is(e));
    await env.svc.startTask({ containerId: id }, ctx());
    await assert.rejects(env.svc.startTask({ containerId: id }, ctx()), (e) => E.TaskState.is(e));
    await assert.rejects(env.svc.deleteTask({ containerId: id }, ctx()), (e) => E.TaskState.is(e));
    const del = await env.svc.deleteTask({ containerId: id, force: true }, ctx());
    assert.equal(del.status, 'STOPPED');
    assert.equal(del.exitCode, 137);
    await assert.rejects(env.svc.getTask({ containerId: id }, ctx()), (e) => E.TaskNotFound.is(e));
    const again = await env.svc.deleteTask({ containerId: id }, ctx());
    assert.equal(again.containerId, id);
    const list = await env.svc.listTasks({}, ctx());
    assert.ok(!list.tasks.some((x) => x.containerId === id));
    // The id can be reused after delete.
    await env.create(id, ['true']);
    await env.svc.startTask({ containerId: id }, ctx());
    assert.equal((await env.svc.waitTask({ containerId: id }, ctx())).exitCode, 0);
    const gone = await env.svc.deleteTask({ containerId: id }, ctx());
    assert.equal(gone.status, 'STOPPED');
  });

  test(`${name}: a created task can be deleted without starting`, async (t) => {
    const env = await setup(t);
    const id = env.newId();
    await env.create(id, ['sleep', '300']);
    assert.equal((await env.svc.getTask({ containerId: id }, ctx())).status, 'CREATED');
    await env.svc.deleteTask({ containerId: id }, ctx());
    await assert.rejects(env.svc.getTask({ containerId: id }, ctx()), (e) => E.TaskNotFound.is(e));
  });

  test(`${name}: bad input gives clear errors`, async (t) => {
    const env = await setup(t);
    for (const bad of ['', '../etc', 'a/b', '-x', 'x'.repeat(129)]) {
      await assert.rejects(env.svc.getTask({ containerId: bad }, ctx()), (e) => E.InvalidArgument.is(e), bad);
      await assert.rejects(env.create(bad, ['true']), (e) => E.InvalidArgument.is(e), bad);
    }
    await assert.rejects(env.svc.getTask({ containerId: 'nope-not-here' }, ctx()), (e) => E.TaskNotFound.is(e));
    await assert.rejects(env.svc.waitTask({ containerId: 'nope-not-here' }, ctx()), (e) => E.TaskNotFound.is(e));
    await assert.rejects(env.svc.killTask({ containerId: 'nope-not-here' }, ctx()), (e) => E.TaskNotFound.is(e));
    const id = env.newId();
    await assert.rejects(env.create(id, []), (e) => E.InvalidArgument.is(e));
    await assert.rejects(
      env.svc.createTask({ containerId: id, bundleDir: 'relative', spec: { rootfs: env.rootfs, process: { args: ['true'] } } }, ctx()),
      (e) => E.InvalidArgument.is(e),
    );
    await assert.rejects(
      env.svc.createTask({ containerId: id, bundleDir: join(env.dir, 'b'), spec: { rootfs: env.rootfs, process: { args: ['true'] }, capAdd: ['NOT_A_CAP'] } }, ctx()),
      (e) => E.InvalidArgument.is(e) && /NOT_A_CAP/.test(e.message),
    );
    await assert.rejects(env.svc.getTask({ containerId: id }, ctx()), (e) => E.TaskNotFound.is(e));
  });

  test(`${name}: a failing create reports the runtime error and leaves no task`, async (t) => {
    const env = await setup(t);
    const id = env.newId();
    await assert.rejects(env.create(id, ['/nonexistent']), (e) => E.RuntimeFailed.is(e) && /nonexistent/.test(e.message));
    await assert.rejects(env.svc.getTask({ containerId: id }, ctx()), (e) => E.TaskNotFound.is(e));
    const list = await env.svc.listTasks({}, ctx());
    assert.ok(!list.tasks.some((x) => x.containerId === id));
  });
}
