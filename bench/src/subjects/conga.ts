/**
 * Conga, all-in-one or split, started from the built bundles (dist/) with a private --root and
 * --run by the test harness, `--default-network none` so `conga run -d` (which has no --network
 * flag yet) gets loopback only. Owner: benchmarks (bench/).
 */
import { join } from 'node:path';
import type { Agent } from 'node:http';
import { REPO, startDaemon, type Daemon, type Mode } from '../../../test/harness/daemon';
import { all, mustExec, timed } from '../exec';
import { processMem, procsMentioning, type Proc } from '../proc-memory';
import { api, apiAgent, apiCountRunning, apiRun } from './api-client';
import { ctrName, type Subject } from './subject';

const CONGA = join(REPO, 'bin', 'conga');

export class CongaSubject implements Subject {
  readonly name: string;
  private d?: Daemon;
  private agent?: Agent;

  constructor(
    private readonly mode: Mode,
    private readonly image: string,
  ) {
    this.name = mode === 'all-in-one' ? 'conga' : 'conga split';
  }

  private daemon(): Daemon {
    if (!this.d) throw new Error(`${this.name}: setup() has not run`);
    return this.d;
  }

  private cli(args: string[]): string[] {
    return [process.execPath, CONGA, '-H', `unix://${this.daemon().socket}`, ...args];
  }

  async setup(): Promise<void> {
    this.d = await startDaemon({ mode: this.mode, extraArgs: ['--default-network', 'none'] });
    this.agent = apiAgent();
    const [cmd, ...args] = this.cli(['pull', this.image]);
    await mustExec(cmd, args);
  }

  async startCli(n: number): Promise<void> {
    await all(n, (i) => {
      const [cmd, ...args] = this.cli(['run', '-d', '--name', ctrName(i), this.image, 'sleep', '3600']);
      return mustExec(cmd, args);
    });
  }

  async startApi(n: number): Promise<void> {
    await all(n, (i) => apiRun(this.daemon().socket, this.agent!, this.image, ctrName(i)));
  }

  countRunning(): Promise<number> {
    return apiCountRunning(this.daemon().socket);
  }

  async removeCli(n: number): Promise<void> {
    const [cmd, ...args] = this.cli(['rm', '-f', ...Array.from({ length: n }, (_, i) => ctrName(i))]);
    await mustExec(cmd, args);
  }

  async removeApi(n: number): Promise<void> {
    await all(n, (i) => api(this.daemon().socket, 'DELETE', `/containers/${ctrName(i)}?force=1`, undefined, this.agent));
  }

  planeProcs(): Proc[] {
    // congad and the services have `--run <run>`; conmon's arguments are paths under <run>.
    const run = this.daemon().run;
    return procsMentioning([run]).filter((p) => p.argv.some((a) => a === run || a.startsWith(run + '/')));
  }

  component(p: Proc): string {
    if (p.comm === 'conmon') return 'conmon';
    const main = p.argv.find((a) => a.endsWith('main.js'));
    return main ? main.split('/').slice(-2, -1)[0] : p.comm;
  }

  cliCommands(): Record<string, string[]> {
    return { ps: this.cli(['ps']), version: this.cli(['version']) };
  }

  async pull(image: string): Promise<{ ms: number; peakRss: number }> {
    const fresh = await startDaemon({ mode: this.mode });
    // The process that downloads and unpacks: the image service, or congad when it runs in it.
    const main = this.mode === 'split' ? join('image-service', 'main.js') : join('congad', 'main.js');
    const svc = procsMentioning([fresh.run]).find((p) => p.argv.some((a) => a.endsWith(main)));
    let peakRss = 0;
    const sample = () => {
      if (svc) peakRss = Math.max(peakRss, processMem(svc.pid).rss);
    };
    sample();
    const timer = setInterval(sample, 20);
    try {
      const ms = await timed(() => mustExec(process.execPath, [CONGA, '-H', `unix://${fresh.socket}`, 'pull', image]));
      return { ms, peakRss };
    } finally {
      clearInterval(timer);
      await fresh.stop();
    }
  }

  async teardown(): Promise<void> {
    this.agent?.destroy();
    const d = this.d;
    this.d = undefined;
    await d?.stop();
  }
}
