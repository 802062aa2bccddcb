import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { runcList, startDaemon, type Daemon } from '../harness/daemon';

/**
 * Health checks run by the engine (State.Health, `ps` status and filter, health_status events)
 * and live restore at scale: N containers with `--restart always` and a health check survive
 * three kill -9 of congad, none lost and none duplicated, and their health checks resume.
 */

const N = 50;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Container monitors (conmon -u <container id>) by container id; exec monitors are excluded. */
function conmonCounts(): Map<string, number> {
  const out = new Map<string, number>();
  const r = spawnSync('ps', ['-eo', 'args='], { encoding: 'utf8' });
  for (const line of r.stdout.split('\n')) {
    const a = line.trim().split(/\s+/);
    if (!/(^|\/)conmon$/.test(a[0] ?? '')) continue;
    const c = a[a.indexOf('-c') + 1];
    const u = a[a.indexOf('-u') + 1];
    if (c && c === u) out.set(c, (out.get(c) ?? 0) + 1);
  }
  return out;
}

describe('health checks and restart survival (all-in-one)', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;
  const runcRoot = () => join(d.run, 'executor', 'runc');
  const ok = async (args: string[]) => {
    const r = await d.cli(args, { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `conga ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const inspect = async (name: string) => (await d.api('GET', `/containers/${name}/json`)).body;

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    await ok(['pull', ref]);
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test('health: starting -> healthy -> unhealthy, in inspect, ps, ps --filter and events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await ok(['run', '-d', '--name', 'hc', '--health-cmd', 'cat /tmp/ok', '--health-interval', '300ms', '--health-retries', '2', '--health-timeout', '5s',
      ref, 'sh', '-c', 'echo fine > /tmp/ok; exec sleep 100000']);
    await until('healthy', async () => (await inspect('hc')).State.Health?.Status === 'healthy');
    let s = (await inspect('hc')).State.Health;
    assert.equal(s.FailingStreak, 0);
    assert.equal(s.Log.at(-1).ExitCode, 0);
    assert.equal(s.Log.at(-1).Output, 'fine\n');
    assert.match(await ok(['ps', '--filter', 'name=hc']), /Up .* \(healthy\)/);
    assert.match(await ok(['ps', '-q', '--filter', 'health=healthy']), /\w{12}/);

    await ok(['exec', 'hc', 'rm', '/tmp/ok']);
    await until('unhealthy', async () => (await inspect('hc')).State.Health?.Status === 'unhealthy');
    s = (await inspect('hc')).State.Health;
    assert.ok(s.FailingStreak >= 2, `FailingStreak ${s.FailingStreak}`);
    assert.ok(s.Log.length <= 5 && s.Log.length >= 2);
    assert.notEqual(s.Log.at(-1).ExitCode, 0);
    assert.match(await ok(['ps', '--filter', 'name=hc']), /\(unhealthy\)/);
    const id = (await inspect('hc')).Id as string;
    assert.equal((await ok(['ps', '-q', '--no-trunc', '--filter', 'health=unhealthy'])).trim(), id);
    assert.equal((await ok(['ps', '-q', '--filter', 'health=healthy'])).trim(), '');

    const until_ = Math.floor(Date.now() / 1000) + 1;
    const ev = await ok(['events', '--since', String(since), '--until', String(until_), '--filter', 'container=hc', '--format', '{{.Action}}']);
    const actions = ev.trim().split('\n').filter((a) => a.startsWith('health_status'));
    assert.deepEqual(actions.slice(0, 2), ['health_status: healthy', 'health_status: unhealthy']);
    await ok(['rm', '-f', 'hc']);
  });

  test(`${N} containers with --restart always and health checks survive three kill -9 of congad`, async () => {
    const names = Array.from({ length: N }, (_, i) => `rs${i}`);
    // Created in batches to keep the 2-core machine responsive.
    for (let i = 0; i < N; i += 10) {
      await Promise.all(names.slice(i, i + 10).map((n) => ok(['run', '-d', '--name', n, '--restart', 'always', '--health-cmd', 'true',
        '--health-interval', '2s', '--health-retries', '3', ref, 'sleep', '100000'])));
    }
    const ids = new Map<string, string>();
    for (const n of names) ids.set(n, (await inspect(n)).Id);
    await until('all healthy', async () => (await ok(['ps', '-q', '--filter', 'health=healthy'])).trim().split('\n').filter(Boolean).length === N, 120_000);
    const pids = new Map(runcList(runcRoot()).map((c) => [c.id, c.pid]));

    const check = () => {
      const list = runcList(runcRoot()).filter((c) => [...ids.values()].includes(c.id));
      assert.equal(list.length, N, 'every container exists exactly once in runc');
      assert.equal(new Set(list.map((c) => c.id)).size, N, 'no duplicate runc container');
      for (const c of list) {
        assert.equal(c.status, 'running', `${c.id} is ${c.status}`);
        assert.equal(c.pid, pids.get(c.id), `${c.id} was not restarted`);
      }
      const mons = conmonCounts();
      for (const id of ids.values()) assert.equal(mons.get(id), 1, `exactly one conmon for ${id}`);
    };

    for (let round = 0; round < 3; round++) {
      await d.killEngine();
      check();
      await d.startEngine();
      check();
      const list = (await d.api('GET', '/containers/json?all=1')).body as Array<{ Id: string; Names: string[]; Status: string }>;
      const rows = list.filter((c) => /^\/rs\d+$/.test(c.Names[0]));
      assert.equal(rows.length, N, 'ps lists each container once');
      for (const r of rows) {
        assert.equal(ids.get(r.Names[0].slice(1)), r.Id);
        assert.match(r.Status, /^Up /);
      }
      assert.equal((await ok(['ps', '-q'])).trim().split('\n').length, N);
    }
    // Health checks resumed after the last restart: a new result for every container.
    const t0 = new Date().toISOString();
    await until('health checks resumed', async () => {
      for (const n of names) {
        const h = (await inspect(n)).State.Health;
        if (h?.Status !== 'healthy' || !(h.Log.at(-1)?.Start > t0)) return false;
      }
      return true;
    }, 120_000);
    check();
    const restarts = await Promise.all(names.map(async (n) => (await inspect(n)).RestartCount));
    assert.deepEqual(restarts, names.map(() => 0));
  });
});
