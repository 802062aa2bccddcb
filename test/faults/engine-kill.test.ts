import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon, type Mode } from '../harness/daemon';
import { checkConsistency, churnWithFaults, removeAllAndCheckEmpty } from './churn';

/**
 * Fault injection: containers churn while engine processes are SIGKILLed every few seconds.
 * Afterwards ps, runc, conmon, mounts, netns, cgroups and state dirs agree, standing containers
 * kept running with the same pid, and removing everything leaves nothing behind. Bounded for
 * CI (FAULT_SECONDS per mode, default 45; FAULT_WORKERS default 6); `npm run soak` runs long.
 */

const seconds = Number(process.env.FAULT_SECONDS) || 45;
const workers = Number(process.env.FAULT_WORKERS) || 6;

for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`faults: SIGKILL engine processes during churn (${mode})`, () => {
    let reg: TestRegistry;
    let d: Daemon;
    let image: string;
    before(async () => {
      reg = await startRegistry();
      image = (await pushImage(reg.host, 'faults/busybox', 'latest', await buildBusyboxImage())).reference;
      d = await startDaemon({ mode });
      const pull = await d.cli(['pull', image]);
      assert.equal(pull.code, 0, pull.stderr);
    });
    after(async () => {
      await d?.stop();
      await reg?.stop();
    });

    test(`${workers} workers churn for ${seconds} s with kills every 2-5 s; state stays consistent`, async (t) => {
      const stats = await churnWithFaults({ d, image, workers, durationMs: seconds * 1000, standing: 4 });
      t.diagnostic(`cycles ${stats.cycles}, ops ${stats.ops} (${stats.failedOps} failed during faults), faults ${stats.faults} ${JSON.stringify(stats.faultsBy)}`);
      const top = Object.entries(stats.failures).sort((a, b) => b[1] - a[1]).slice(0, 8);
      for (const [k, n] of top) t.diagnostic(`  ${n}× ${k}`);
      assert.ok(stats.faults >= 3, 'faults were injected');
      assert.ok(stats.cycles > 0, 'work got done');
      const c = await checkConsistency(d, stats.ids);
      t.diagnostic(`after faults: ${c.containers} containers, ${c.running} running`);
      for (const s of stats.standing) {
        const ins = await d.api('GET', `/containers/${s.id}/json`);
        assert.equal(ins.status, 200, `standing container ${s.id} lost`);
        assert.equal(ins.body.State.Running, true, `standing container ${s.id} stopped: ${JSON.stringify(ins.body.State)}`);
        assert.equal(ins.body.State.Pid, s.pid, 'standing container kept its process (live restore)');
      }
      await removeAllAndCheckEmpty(d, stats.ids);
    });
  });
}
