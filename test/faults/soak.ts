import assert from 'node:assert/strict';
import { startRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Mode } from '../harness/daemon';
import { checkConsistency, churnWithFaults, removeAllAndCheckEmpty } from './churn';

/**
 * `npm run soak`: the fault-injection churn for a long time (SOAK_MINUTES, default 30, split
 * evenly between all-in-one and split mode; SOAK_WORKERS default 10), checked for consistency
 * every SOAK_CHECK_MINUTES (default 5). Prints the figures: operations, faults injected, lost.
 */
/** What must be stopped if the soak is interrupted (Ctrl-C): nothing may be left running. */
const live = new Set<{ stop(): Promise<void> }>();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stdout.write(`soak: ${sig}, cleaning up\n`);
    void Promise.allSettled([...live].map((x) => x.stop())).then(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const minutes = Number(process.env.SOAK_MINUTES) || 30;
  const workers = Number(process.env.SOAK_WORKERS) || 10;
  const chunk = (Number(process.env.SOAK_CHECK_MINUTES) || 5) * 60_000;
  const modes: Mode[] = process.env.SOAK_MODE ? [process.env.SOAK_MODE as Mode] : ['all-in-one', 'split'];
  const reg = await startRegistry();
  live.add(reg);
  const totals = { minutes, workers, cycles: 0, ops: 0, failedOpsDuringFaults: 0, faults: 0, faultsBy: {} as Record<string, number>, checks: 0, standingLost: 0, inconsistencies: [] as string[] };
  const t0 = Date.now();
  try {
    const image = (await pushImage(reg.host, 'soak/busybox', 'latest', await buildBusyboxImage())).reference;
    for (const mode of modes) {
      const d = await startDaemon({ mode, startTimeoutMs: 180_000 });
      live.add(d);
      try {
        assert.equal((await d.cli(['pull', image])).code, 0);
        const ids = new Set<string>();
        let left = (minutes * 60_000) / modes.length;
        let first = true;
        let standing: Array<{ id: string; pid: number }> = [];
        while (left > 0) {
          const ms = Math.min(chunk, left);
          left -= ms;
          const s = await churnWithFaults({ d, image, workers, durationMs: ms, standing: first ? 10 : 0, log: (l) => process.stdout.write(`[${mode} ${Math.round((Date.now() - t0) / 1000)}s] ${l}\n`) });
          if (first) standing = s.standing;
          first = false;
          for (const id of s.ids) ids.add(id);
          totals.cycles += s.cycles;
          totals.ops += s.ops;
          totals.failedOpsDuringFaults += s.failedOps;
          totals.faults += s.faults;
          for (const [k, n] of Object.entries(s.faultsBy)) totals.faultsBy[k] = (totals.faultsBy[k] ?? 0) + n;
          totals.checks++;
          try {
            const c = await checkConsistency(d, ids);
            process.stdout.write(`[${mode}] check ${totals.checks}: consistent (${c.containers} containers, ${c.running} running); ops so far ${totals.ops}, faults ${totals.faults}\n`);
          } catch (e) {
            totals.inconsistencies.push(`${mode}: ${(e as Error).message}`);
            process.stdout.write(`[${mode}] check ${totals.checks}: INCONSISTENT: ${(e as Error).message}\n`);
          }
          for (const s0 of standing) {
            const ins = await d.api('GET', `/containers/${s0.id}/json`);
            if (ins.status !== 200 || ins.body.State?.Running !== true || ins.body.State?.Pid !== s0.pid) {
              totals.standingLost++;
              process.stdout.write(`[${mode}] standing container ${s0.id.slice(0, 12)} lost: ${JSON.stringify(ins.body?.State ?? ins.body)}\n`);
            }
          }
        }
        try {
          await removeAllAndCheckEmpty(d, ids);
        } catch (e) {
          totals.inconsistencies.push(`${mode} after removing everything: ${(e as Error).message}`);
        }
      } finally {
        await d.stop();
        live.delete(d);
      }
    }
  } finally {
    await reg.stop();
  }
  process.stdout.write(`\nsoak figures: ${JSON.stringify({ ...totals, lost: totals.standingLost + totals.inconsistencies.length, elapsedMinutes: +((Date.now() - t0) / 60_000).toFixed(1) }, null, 2)}\n`);
  process.exit(totals.standingLost + totals.inconsistencies.length === 0 ? 0 : 1);
}

main().catch((e) => {
  process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
