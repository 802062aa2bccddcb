/**
 * The `cri` scenario: an engine driven through its CRI socket the way kubelet does. N pods,
 * each with one busybox container, made at once (RunPodSandbox, CreateContainer,
 * StartContainer): wall time until all N containers run, the PSS of the management plane with
 * them running, and the wall time of StopPodSandbox + RemovePodSandbox of the N at once.
 * Subjects: conga all-in-one (runc sandboxer, CNI bridge; plane = congad + one conmon per
 * container) and a private containerd 1.6 with its CRI plugin (./cri-containerd.ts; plane =
 * containerd + one shim per pod; the pause processes are not counted, as conmon's children
 * are not). Owner: benchmarks (bench/).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from '../../test/harness/daemon';
import { criClient } from '../../test/harness/cri-client';
import { all, timed, until } from './exec';
import { memByComponent, procsMentioning, type Proc } from './proc-memory';
import type { Results } from './stats';

const MB = 1024 * 1024;

/** An engine serving the CRI. */
export interface CriTarget {
  readonly name: string;
  readonly socket: string;
  start(): Promise<void>;
  planeProcs(): Proc[];
  component(p: Proc): string;
  stop(): Promise<void>;
}

/** conga all-in-one with its CRI socket. */
export function congaCriTarget(): CriTarget {
  let d: Awaited<ReturnType<typeof startDaemon>> | undefined;
  const t = {
    name: 'conga (CRI)',
    socket: '',
    async start() {
      d = await startDaemon({ mode: 'all-in-one' });
      t.socket = join(d.run, 'cri.sock');
      await until('the CRI socket', async () => existsSync(t.socket), 20_000);
    },
    planeProcs: () => procsMentioning([d!.run]).filter((p) => p.argv.some((a) => a === d!.run || a.startsWith(d!.run + '/'))),
    component: (p: Proc) => (p.comm === 'conmon' ? 'conmon' : (p.argv.find((a) => a.endsWith('main.js'))?.split('/').slice(-2, -1)[0] ?? p.comm)),
    async stop() {
      await d?.stop();
      d = undefined;
    },
  };
  return t;
}

/** One round against `t` (started and stopped here). */
export async function criRound(t: CriTarget, image: string, n: number, res: Results, log: (line: string) => void): Promise<void> {
  await t.start();
  const cri = criClient(t.socket);
  try {
    await cri.image.pullImage({ image: { image } });
    const pods: string[] = [];
    const running = async () =>
      ((await cri.runtime.listContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers as unknown[]).length;
    const start = await timed(async () => {
      await all(n, async (i) => {
        const config = { metadata: { name: `bench-${i}`, uid: `uid-bench-${i}`, namespace: 'bench', attempt: 0 }, hostname: `bench-${i}`, linux: {} };
        const { podSandboxId } = await cri.runtime.runPodSandbox({ config });
        pods.push(podSandboxId);
        const { containerId } = await cri.runtime.createContainer({
          podSandboxId,
          sandboxConfig: config,
          config: { metadata: { name: 'main', attempt: 0 }, image: { image }, command: ['sleep', '3600'], linux: {} },
        });
        await cri.runtime.startContainer({ containerId });
      });
      await until(`${n} CRI containers running`, async () => (await running()) === n);
    });
    res.add(`CRI: ${n} pods running`, t.name, 'ms', start);
    let pss = 0;
    const parts: string[] = [];
    for (const [name, m] of memByComponent(t.planeProcs(), (p) => t.component(p))) {
      pss += m.pss;
      parts.push(`${name}${m.count > 1 ? ` ×${m.count}` : ''} ${(m.pss / MB).toFixed(1)} MB`);
    }
    res.add(`CRI: memory PSS, ${n} pods`, t.name, 'MB', pss / MB, parts.join(', '));
    const rm = await timed(() =>
      all(pods.length, async (i) => {
        await cri.runtime.stopPodSandbox({ podSandboxId: pods[i] });
        await cri.runtime.removePodSandbox({ podSandboxId: pods[i] });
      }),
    );
    res.add(`CRI: stop+remove ${n} pods`, t.name, 'ms', rm);
    log(`  ${t.name}: ${n} pods running in ${start.toFixed(0)} ms, plane PSS ${(pss / MB).toFixed(1)} MB (${parts.join(', ')}), stop+remove in ${rm.toFixed(0)} ms`);
  } finally {
    cri.close();
    await t.stop();
  }
}
