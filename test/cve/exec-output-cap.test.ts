import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/**
 * CVE-2022-31030 class (containerd's ExecSync read a process's whole output into memory; exec
 * resizes leaked): a health check that prints endlessly keeps at most 4 KiB per result in
 * State.Health.Log (docker's cap) and does not grow congad's memory without bound (all-in-one:
 * the executor's exec-sync runs inside congad); 500 exec resizes leave congad's fd count where
 * it was.
 */

/** The congad process of `d` (the one whose command line names its run dir and congad). */
function congadPid(d: Daemon): number {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(d.run) && cmd.includes('congad')) return Number(p);
    } catch {
      /* gone */
    }
  }
  throw new Error(`no congad process for ${d.run}`);
}

const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('CVE-2022-31030: exec output is capped, resizes leak nothing', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'cve/execcap', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon();
    const pull = await d.cli(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test('a health check printing endlessly: 4 KiB per result, congad memory bounded', async (t) => {
    const pid = congadPid(d);
    const rss0 = rssBytes(pid);
    // `yes` writes hundreds of MB in its 2 s; one printing 64 KiB and exiting shows the cap itself.
    const flood = await d.cli(['run', '-d', '--name', 'flood', '--health-cmd', 'yes conga-flood', '--health-interval', '1s', '--health-timeout', '2s', ref, 'sleep', '300']);
    assert.equal(flood.code, 0, flood.stderr);
    const big = await d.cli(['run', '-d', '--name', 'big', '--health-cmd', 'head -c 65536 /dev/zero | tr "\\0" x', '--health-interval', '1s', ref, 'sleep', '300']);
    assert.equal(big.code, 0, big.stderr);
    let peak = rss0;
    const health = async (name: string) => (await d.api('GET', `/containers/${name}/json`)).body.State?.Health;
    await until('three results of each health check', async () => {
      peak = Math.max(peak, rssBytes(pid));
      return ((await health('flood'))?.Log?.length ?? 0) >= 3 && ((await health('big'))?.Log?.length ?? 0) >= 3;
    }, 90_000);
    for (const name of ['flood', 'big']) {
      for (const r of (await health(name)).Log) assert.ok(Buffer.byteLength(r.Output) <= 4096, `${name}: a result keeps ${Buffer.byteLength(r.Output)} bytes of output`);
    }
    const bigLog = (await health('big')).Log;
    assert.ok(bigLog.some((r: { Output: string; ExitCode: number }) => r.ExitCode === 0 && r.Output.length === 4096 && /^x+$/.test(r.Output)), 'a 64 KiB result is cut to exactly 4096 bytes');
    t.diagnostic(`congad RSS ${Math.round(rss0 / 1048576)} MiB before, peak ${Math.round(peak / 1048576)} MiB during the flood`);
    // Unbounded reading would hold hundreds of MB per probe; allow generous noise for the rest.
    assert.ok(peak - rss0 < 256 * 1024 * 1024, `congad grew by ${Math.round((peak - rss0) / 1048576)} MiB while the flood ran`);
    for (const name of ['flood', 'big']) assert.equal((await d.cli(['rm', '-f', name])).code, 0);
  });

  test('500 exec resizes leak no file descriptor in congad', async (t) => {
    const run = await d.cli(['run', '-d', '--name', 'resize', ref, 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const ex = await d.api('POST', '/containers/resize/exec', { Cmd: ['sleep', '300'], Tty: true, AttachStdin: false, AttachStdout: false, AttachStderr: false });
    assert.equal(ex.status, 201, JSON.stringify(ex.body));
    const start = await d.api('POST', `/exec/${ex.body.Id}/start`, { Detach: true, Tty: true });
    assert.ok(start.status < 300, JSON.stringify(start.body));
    await until('the exec to run', async () => (await d.api('GET', `/exec/${ex.body.Id}/json`)).body.Running === true);
    const pid = congadPid(d);
    // One resize first so any lazily opened handle (e.g. the console socket) is in the baseline.
    assert.ok((await d.api('POST', `/exec/${ex.body.Id}/resize?h=24&w=80`)).status < 300);
    const fd0 = fdCount(pid);
    for (let i = 0; i < 500; i++) {
      const r = await d.api('POST', `/exec/${ex.body.Id}/resize?h=${20 + (i % 30)}&w=${60 + (i % 90)}`);
      assert.ok(r.status < 300, `resize ${i}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    // Connections of the requests close asynchronously: poll for the count to settle.
    await until(`congad's fd count back to ${fd0}`, () => fdCount(pid) <= fd0 + 2, 30_000).catch(() => {
      assert.fail(`congad holds ${fdCount(pid)} fds after 500 resizes, ${fd0} before`);
    });
    t.diagnostic(`congad fds: ${fd0} before, ${fdCount(pid)} after 500 resizes`);
    assert.equal((await d.cli(['rm', '-f', 'resize'])).code, 0);
  });
});
