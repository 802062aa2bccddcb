/**
 * The benchmark itself: a local registry with a busybox image, then for each subject (bare runc,
 * conga all-in-one and split, docker, podman when installed) R rounds of: idle memory, N
 * concurrent starts via the CLI, memory with N running, CLI timings, rm -f of the N, the same
 * start/rm through the Engine API, cold pulls (busybox, 5×20 MB incompressible layers, 30 small
 * layers; conga also reports the peak RSS of its image service). Owner: benchmarks (bench/).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxImage, busyboxLayer, pushImage } from '../../test/harness/busybox-image';
import { REPO } from '../../test/harness/daemon';
import { startRegistry, type TestRegistry } from '../../test/harness/registry';
import { PrivateContainerd, containerdInstalled } from './cri-containerd';
import { congaCriTarget, criRound, type CriTarget } from './cri-scenario';
import { exec, timed, until } from './exec';
import type { BenchOptions, Scenario } from './options';
import { memByComponent } from './proc-memory';
import { checkTargets, renderTable, renderTargets, type TargetCheck } from './report';
import { Results, type Figure } from './stats';
import { CongaSubject } from './subjects/conga';
import { DockerSubject, dockerInstalled } from './subjects/docker';
import { PodmanSubject, podmanInstalled } from './subjects/podman';
import { RuncSubject } from './subjects/runc';
import type { Subject } from './subjects/subject';

/** What a run produced. */
export interface BenchRun {
  figures: Figure[];
  targets: TargetCheck[];
  /** The JSON file written. */
  file: string;
  /** Subjects or scenarios left out, with the reason. */
  skipped: string[];
}

const MB = 1024 * 1024;

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0].trim() : 'not installed';
}

/** One round for one subject; samples go into `res`. */
async function round(s: Subject, opts: BenchOptions, res: Results, log: (line: string) => void, pulls: Array<[string, string]>): Promise<void> {
  const { n } = opts;
  const has = (x: Scenario) => opts.only.includes(x);
  const memory = (label: string) => {
    const by = memByComponent(s.planeProcs(), (p) => s.component(p));
    let pss = 0;
    let rss = 0;
    const parts: string[] = [];
    for (const [name, m] of [...by].sort((a, b) => b[1].pss - a[1].pss)) {
      pss += m.pss;
      rss += m.rss;
      parts.push(`${name}${m.count > 1 ? ` ×${m.count}` : ''} ${(m.pss / MB).toFixed(1)} MB PSS / ${(m.rss / MB).toFixed(1)} MB RSS`);
    }
    const note = parts.join(', ') || 'no processes';
    res.add(`memory PSS, ${label}`, s.name, 'MB', pss / MB, note);
    res.add(`memory RSS, ${label}`, s.name, 'MB', rss / MB);
  };
  const isRunc = s.name === 'runc';
  if (has('memory') && !isRunc) memory('idle');
  if (has('start') || has('memory') || has('rm') || has('cli')) {
    const start = await timed(async () => {
      await s.startCli(n);
      await until(`${n} running in ${s.name}`, async () => (await s.countRunning()) === n);
    });
    if (has('start')) res.add(`start ${n}`, s.name, 'ms', start);
    log(`  ${s.name}: started ${n} in ${start.toFixed(0)} ms`);
    if (has('memory') && !isRunc) memory(`${n} running`);
    if (has('cli')) {
      for (const [what, [cmd, ...args]] of Object.entries(s.cliCommands())) {
        for (let k = 0; k < opts.cliSamples; k++) {
          const r = await exec(cmd, args, { capture: true });
          if (r.code !== 0) throw new Error(`${s.name} ${what} failed: ${r.stderr.trim()}`);
          res.add(what, s.name, 'ms', r.ms);
        }
      }
    }
    const rm = await timed(async () => {
      await s.removeCli(n);
      await until(`${s.name} to have no containers running`, async () => (await s.countRunning()) === 0);
    });
    if (has('rm')) res.add(`rm -f ${n}`, s.name, 'ms', rm);
    log(`  ${s.name}: removed ${n} in ${rm.toFixed(0)} ms`);
  }
  if (has('start') && s.startApi) {
    const start = await timed(async () => {
      await s.startApi!(n);
      await until(`${n} running in ${s.name}`, async () => (await s.countRunning()) === n);
    });
    res.add(`start ${n} (API)`, s.name, 'ms', start);
    const rm = await timed(async () => {
      await (s.removeApi ? s.removeApi(n) : s.removeCli(n));
      await until(`${s.name} to have no containers running`, async () => (await s.countRunning()) === 0);
    });
    res.add(`rm -f ${n} (API)`, s.name, 'ms', rm);
    log(`  ${s.name}: API start ${start.toFixed(0)} ms, API rm ${rm.toFixed(0)} ms`);
  }
  if (has('pull') && s.pull) {
    for (const [what, ref] of pulls) {
      const r = await s.pull(ref);
      res.add(`pull ${what}`, s.name, 'ms', r.ms);
      if (r.peakRss !== undefined) res.add(`pull ${what}: peak image-service RSS`, s.name, 'MB', r.peakRss / MB);
      log(`  ${s.name}: pull ${what} in ${r.ms.toFixed(0)} ms${r.peakRss !== undefined ? `, peak RSS ${(r.peakRss / MB).toFixed(1)} MB` : ''}`);
    }
  }
}

/**
 * Run the benchmark; prints progress, the table and the targets through `log`; writes the JSON
 * to `<opts.out>/<timestamp>.json`. Needs root and a built dist/ (`npm run build`).
 */
export async function runBench(opts: BenchOptions, log: (line: string) => void = console.log): Promise<BenchRun> {
  if (!existsSync(join(REPO, 'dist', 'apps', 'congad', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  // Every node process the bench starts (congad, the CLI) starts without the extra CA bundle.
  const savedCa = process.env.NODE_EXTRA_CA_CERTS;
  delete process.env.NODE_EXTRA_CA_CERTS;
  const skipped: string[] = [];
  const res = new Results();
  let reg: TestRegistry | undefined;
  let active: Subject | undefined;
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    log('interrupted: cleaning up');
    void (async () => {
      await active?.teardown().catch(() => undefined);
      await reg?.stop().catch(() => undefined);
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const startedAt = new Date();
  try {
    reg = await startRegistry();
    const pushed = await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage());
    const image = pushed.reference;
    const pulls: Array<[string, string]> = [['busybox', image]];
    if (opts.only.includes('pull')) {
      // Incompressible layers show download + unpack throughput; many small ones per-layer overhead.
      const big = await buildBusyboxImage({ extraLayers: Array.from({ length: 5 }, (_, i) => ({ [`big/${i}.bin`]: randomBytes(20 * MB) })) });
      pulls.push(['5x20MB layers', (await pushImage(reg.host, 'pull/big', 'latest', big)).reference]);
      const many = await buildBusyboxImage({ extraLayers: Array.from({ length: 30 }, (_, i) => ({ [`small/${i}.txt`]: `layer ${i}\n`.repeat(100) })) });
      pulls.push(['30 small layers', (await pushImage(reg.host, 'pull/many', 'latest', many)).reference]);
    }
    const want = new Set(opts.subjects);
    const subjects: Subject[] = [];
    if (want.has('runc')) subjects.push(new RuncSubject((await busyboxLayer()).blob, opts.n));
    if (want.has('conga')) {
      subjects.push(new CongaSubject('all-in-one', image));
      subjects.push(new CongaSubject('split', image));
    }
    if (want.has('docker')) {
      if (dockerInstalled()) subjects.push(new DockerSubject(image));
      else skipped.push('docker: not installed (apt-get install docker.io)');
    }
    if (want.has('podman')) {
      if (podmanInstalled()) subjects.push(new PodmanSubject(image));
      else skipped.push('podman: not installed (apt-get install podman)');
    }
    // `--only cri` needs none of the subjects above (the cri scenario starts its own congad).
    for (const s of opts.only.some((x) => x !== 'cri') ? subjects : []) {
      active = s;
      log(`${s.name}: setting up`);
      try {
        await s.setup();
        for (let r = 0; r < opts.repeat; r++) {
          log(`${s.name}: round ${r + 1}/${opts.repeat}`);
          await round(s, opts, res, log, pulls);
        }
      } finally {
        await s.teardown();
        active = undefined;
      }
    }
    if (opts.only.includes('cri')) {
      const targets: CriTarget[] = want.has('conga') ? [congaCriTarget()] : [];
      if (!containerdInstalled()) skipped.push('cri: containerd not installed (apt-get install containerd): no CRI baseline');
      else {
        // containerd needs a sandbox image: a busybox that sleeps, in the local registry.
        const pause = (await pushImage(reg.host, 'bench/pause', 'latest', await buildBusyboxImage({ cmd: ['sleep', '2147483647'] }))).reference;
        targets.push(new PrivateContainerd(reg.host, pause));
      }
      for (const t of targets) {
        log(`${t.name}: CRI scenario`);
        try {
          for (let r = 0; r < opts.repeat; r++) await criRound(t, image, opts.n, res, log);
        } catch (e) {
          // The baseline failing (its runtime setup on this host) must not hide conga's figures.
          if (!(t instanceof PrivateContainerd)) throw e;
          skipped.push(`cri: ${t.name} failed: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    await reg?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (savedCa !== undefined) process.env.NODE_EXTRA_CA_CERTS = savedCa;
  }
  const figures = res.figures();
  const targets = checkTargets(figures, opts.n);
  log('');
  log(`conga bench: N=${opts.n}, ${opts.repeat} round(s), ${cpus().length} CPUs, kernel ${release()}, node ${process.version}`);
  log(renderTable(figures));
  log('');
  log(renderTargets(targets));
  for (const s of skipped) log(`skipped: ${s}`);
  mkdirSync(opts.out, { recursive: true });
  const file = join(opts.out, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const versions = {
    conga: version('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
    node: process.version,
    runc: version('runc', ['--version']),
    conmon: version('conmon', ['--version']),
    dockerd: version('dockerd', ['--version']),
    podman: version('podman', ['--version']),
  };
  const doc = { startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), host: { cpus: cpus().length, kernel: release() }, versions, options: opts, figures, targets, skipped };
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  log(`results: ${file}`);
  return { figures, targets, file, skipped };
}
