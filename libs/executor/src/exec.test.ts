import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { E, newContext, silentLogger } from '@conga/common';
import { createExecutorService, type LocalExecutorService } from './executor-service';
import { makeBusyboxRootfs } from './busybox-rootfs';
import { connectAttachSocket, type AttachConnection } from './attach-socket';
import { parseK8sLog } from './exec';

const ctx = () => newContext();

/** A running busybox container (`args`) under a fresh executor; everything removed afterwards. */
async function running(t: TestContext, id: string, args: string[], opts: { terminal?: boolean; stdin?: boolean; stdinOnce?: boolean } = {}): Promise<{ svc: LocalExecutorService; runDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'conga-exec-i-'));
  const runDir = join(dir, 'run');
  const rootfs = makeBusyboxRootfs(join(dir, 'rootfs'));
  const svc = await createExecutorService({ runDir, log: silentLogger() });
  t.after(async () => {
    await svc.deleteTask({ containerId: id, force: true }, ctx()).catch(() => undefined);
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await svc.createTask(
    {
      containerId: id, bundleDir: join(dir, 'bundle'), logPath: join(dir, 'ctr.log'),
      spec: { process: { args, env: ['PATH=/bin'], cwd: '/', terminal: !!opts.terminal }, rootfs, netnsPath: '' },
      stdin: !!opts.stdin, stdinOnce: !!opts.stdinOnce,
    },
    ctx(),
  );
  await svc.startTask({ containerId: id }, ctx());
  return { svc, runDir };
}

/** Collect a connection's output until `pred` holds on it (or the connection closes). */
function collect(conn: AttachConnection): { out: () => string; err: () => string; until(pred: (s: string) => boolean): Promise<void> } {
  let out = '';
  let err = '';
  let wake: (() => void) | undefined;
  let closed = false;
  conn.on('data', (s: string, b: Buffer) => {
    if (s === 'stderr') err += b.toString();
    else out += b.toString();
    wake?.();
  });
  conn.on('close', () => {
    closed = true;
    wake?.();
  });
  return {
    out: () => out,
    err: () => err,
    async until(pred) {
      while (!pred(out) && !closed) await new Promise<void>((r) => (wake = r));
    },
  };
}

test('execSync returns the exit code and keeps stdout and stderr apart, capped', async (t) => {
  const { svc } = await running(t, 'execsync', ['sleep', '300']);
  const r = await svc.execSync({ containerId: 'execsync', process: { args: ['sh', '-c', 'echo out; echo err >&2; exit 3'] } }, ctx());
  assert.equal(r.exitCode, 3);
  assert.equal(r.stdout.toString(), 'out\n');
  assert.equal(r.stderr.toString(), 'err\n');
  assert.equal(r.truncated, false);
  const big = await svc.execSync({ containerId: 'execsync', process: { args: ['sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo 0123456789; i=$((i+1)); done'] }, maxOutputBytes: 100 }, ctx());
  assert.equal(big.exitCode, 0);
  assert.equal(big.stdout.length, 100);
  assert.equal(big.truncated, true);
});

test('exec with attach misses no output, forwards stdin, and reports the exit code', async (t) => {
  const { svc, runDir } = await running(t, 'execattach', ['sleep', '300']);
  const eid = 'a'.repeat(64);
  const created = await svc.createExec({ containerId: 'execattach', execId: eid, process: { args: ['sh', '-c', 'echo early; read x; echo got:$x; echo e >&2; exit 7'] }, stdin: true, attach: true }, ctx());
  assert.ok(created.attachSocket.startsWith(runDir));
  const conn = await connectAttachSocket(created.attachSocket);
  const c = collect(conn);
  const started = await svc.startExec({ containerId: 'execattach', execId: eid }, ctx());
  assert.ok(started.pid > 0);
  await c.until((s) => s.includes('early'));
  conn.write('hello\n');
  await conn.closed;
  assert.equal(c.out(), 'early\ngot:hello\n');
  assert.equal(c.err(), 'e\n');
  const done = await svc.waitExec({ containerId: 'execattach', execId: eid }, ctx());
  assert.equal(done.exitCode, 7);
  assert.equal(done.exited, true);
  assert.equal(existsSync(join(runDir, 'execattach', 'execs', eid)), false, 'the session directory is removed');
});

test('exec with a terminal echoes input and follows resize', async (t) => {
  const { svc } = await running(t, 'exectty', ['sleep', '300']);
  const eid = 'b'.repeat(64);
  const created = await svc.createExec({ containerId: 'exectty', execId: eid, process: { args: ['sh'], terminal: true, env: ['PATH=/bin', 'PS1=$ '] }, stdin: true, attach: true }, ctx());
  const conn = await connectAttachSocket(created.attachSocket);
  const c = collect(conn);
  await svc.startExec({ containerId: 'exectty', execId: eid }, ctx());
  await c.until((s) => s.includes('$ '));
  await svc.resizeTask({ containerId: 'exectty', execId: eid, height: 33, width: 101 }, ctx());
  conn.write('stty size; exit 5\r');
  await conn.closed;
  assert.match(c.out(), /stty size; exit 5/, 'the terminal echoes what was typed');
  assert.match(c.out(), /33 101/);
  assert.equal((await svc.waitExec({ containerId: 'exectty', execId: eid }, ctx())).exitCode, 5);
});

test('the container attach socket carries stdin and output; stdinOnce closes stdin on EOF', async (t) => {
  const { svc } = await running(t, 'attachme', ['sh', '-c', 'cat; echo bye'], { stdin: true, stdinOnce: true });
  const target = await svc.attachTask({ containerId: 'attachme' }, ctx());
  assert.equal(target.terminal, false);
  const conn = await connectAttachSocket(target.socketPath);
  const c = collect(conn);
  conn.write('ping\n');
  await c.until((s) => s.includes('ping'));
  conn.endInput();
  await c.until((s) => s.includes('bye'));
  assert.equal(c.out(), 'ping\nbye\n');
  const task = await svc.waitTask({ containerId: 'attachme' }, ctx());
  assert.equal(task.exitCode, 0);
});

test('bad exec requests fail clearly and leave nothing behind', async (t) => {
  const { svc, runDir } = await running(t, 'badexec', ['sleep', '300']);
  await assert.rejects(svc.createExec({ containerId: 'badexec', execId: 'x1', process: { args: [] } }, ctx()), (e) => E.InvalidArgument.is(e));
  await assert.rejects(svc.createExec({ containerId: 'nosuch', execId: 'x2', process: { args: ['true'] } }, ctx()), (e) => E.TaskNotFound.is(e));
  await assert.rejects(svc.createExec({ containerId: 'badexec', execId: '../x', process: { args: ['true'] } }, ctx()), (e) => E.InvalidArgument.is(e));
  await assert.rejects(svc.resizeTask({ containerId: 'badexec', height: 0, width: 10 }, ctx()), (e) => E.InvalidArgument.is(e));
  await assert.rejects(svc.startExec({ containerId: 'badexec', execId: 'x3' }, ctx()), (e) => E.TaskNotFound.is(e));
  assert.equal(existsSync(join(runDir, 'badexec', 'execs', 'x1')), false);
  await svc.killTask({ containerId: 'badexec', signal: 9 }, ctx());
  await svc.waitTask({ containerId: 'badexec' }, ctx());
  await sleep(10);
  await assert.rejects(svc.createExec({ containerId: 'badexec', execId: 'x4', process: { args: ['true'] } }, ctx()), (e) => E.TaskState.is(e));
});

test('parseK8sLog joins partial lines and caps each stream', () => {
  const log = '2024-01-01T00:00:00Z stdout P ab\n2024-01-01T00:00:00Z stdout F cd\n2024-01-01T00:00:00Z stderr F x\n';
  const r = parseK8sLog(log, 1000);
  assert.equal(r.stdout.toString(), 'abcd\n');
  assert.equal(r.stderr.toString(), 'x\n');
  assert.equal(parseK8sLog(log, 3).truncated, true);
});
