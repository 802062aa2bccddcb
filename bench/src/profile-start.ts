/**
 * Where does congad's time go when N containers start at once? Starts congad (all-in-one, private
 * --root/--run, --default-network none) under `node --cpu-prof`, starts N containers through the
 * Engine API, removes them, stops congad and prints the CPU profile by component, plus how many
 * programs were executed per container (from `strace -f -e trace=execve` when strace exists).
 *   node --import tsx bench/src/profile-start.ts [N]      (BENCH_STRACE=0: no exec count)
 * Owner: benchmarks (bench/).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildBusyboxImage, pushImage } from '../../test/harness/busybox-image';
import { REPO, cleanupState } from '../../test/harness/daemon';
import { startRegistry } from '../../test/harness/registry';
import { componentOf, selfTime, sourceOf } from './cpu-profile';
import { all, benchEnv, timed, until } from './exec';
import { unmountUnder } from './subjects/cleanup';
import { api, apiAgent, apiCountRunning, apiRun } from './subjects/api-client';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 100);
  const base = mkdtempSync('/tmp/cgb-prof-');
  const root = join(base, 'r');
  const run = join(base, 's');
  const socket = join(run, 'conga.sock');
  const prof = join(base, 'prof');
  const reg = await startRegistry();
  const useStrace = process.env.BENCH_STRACE !== '0' && spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
  const log = openSync(join(base, 'congad.log'), 'a');
  const congad = [process.execPath, '--cpu-prof', '--cpu-prof-dir', prof, join(REPO, 'dist/apps/congad/main.js'), '--root', root, '--run', run, '--default-network', 'none'];
  const p = spawn(congad[0], congad.slice(1), { env: benchEnv(), stdio: ['ignore', log, log] });
  // strace attached to congad (not its parent), so SIGTERM reaches congad and the profile is written.
  const tracer = useStrace ? spawn('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', join(base, 'execs'), '-p', String(p.pid)], { stdio: 'ignore' }) : undefined;
  try {
    const image = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    await until('congad', () => api(socket, 'GET', '/_ping').then(() => true, () => false), 60_000);
    await api(socket, 'POST', `/images/create?fromImage=${encodeURIComponent(image)}`);
    const agent = apiAgent();
    const start = await timed(async () => {
      await all(n, (i) => apiRun(socket, agent, image, `cp${i}`));
      await until('all running', async () => (await apiCountRunning(socket)) === n);
    });
    const rm = await timed(() => all(n, (i) => api(socket, 'DELETE', `/containers/cp${i}?force=1`, undefined, agent)));
    agent.destroy();
    console.log(`start ${n} via API: ${start.toFixed(0)} ms; rm -f: ${rm.toFixed(0)} ms${useStrace ? ' (under strace: slower than real)' : ''}`);
  } finally {
    if (tracer) {
      const detached = new Promise((r) => tracer.once('exit', r));
      tracer.kill('SIGINT');
      await detached;
    }
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
    cleanupState(root, run);
    for (let i = 0; i < 3; i++) unmountUnder(base); // a netns dir may be bind-mounted more than once
    await reg.stop();
  }
  const file = (existsSync(prof) ? readdirSync(prof) : []).find((f) => f.endsWith('.cpuprofile'));
  if (file) {
    const profile = JSON.parse(readFileSync(join(prof, file), 'utf8'));
    const t = selfTime(profile, (cf) => componentOf(sourceOf(cf)));
    const total = [...t.values()].reduce((a, b) => a + b, 0);
    const busy = total - (t.get('(idle)') ?? 0);
    console.log(`congad CPU profile: ${total.toFixed(0)} ms recorded, ${busy.toFixed(0)} ms busy (${(busy / n).toFixed(1)} ms per container incl. rm)`);
    for (const [k, ms] of [...t].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${ms.toFixed(0).padStart(8)} ms  ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${k}`);
    const files = selfTime(profile, (cf) => sourceOf(cf));
    console.log('top source files:');
    for (const [k, ms] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${ms.toFixed(0).padStart(8)} ms  ${k}`);
  }
  if (useStrace && existsSync(join(base, 'execs'))) {
    const counts = new Map<string, number>();
    for (const line of readFileSync(join(base, 'execs'), 'utf8').split('\n')) {
      const m = /execve\("([^"]+)", \["([^"]*)"(?:, "([^"]*)")?(?:, "([^"]*)")?(?:, "([^"]*)")?/.exec(line);
      if (!m || / = -1 /.test(line)) continue;
      const prog = m[1].split('/').pop()!;
      const verb = /"(create|start|state|kill|delete|run|exec|list|ps|pause|resume|update|events|features|--version)"/.exec(line)?.[1];
      const sub = prog === 'runc' ? ` ${verb ?? '?'}` : '';
      counts.set(prog + sub, (counts.get(prog + sub) ?? 0) + 1);
    }
    console.log(`programs executed by congad and its children, per container (start + rm of ${n}):`);
    for (const [k, c] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`${(c / n).toFixed(2).padStart(8)}  ${k}`);
  }
  rmSync(base, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
