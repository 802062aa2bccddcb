/**
 * Podman (Debian's podman): no daemon; one conmon per container. Private --root/--runroot/--tmpdir,
 * cgroupfs, file events, `--network none`, and the ulimits these machines need.
 * Owner: benchmarks (bench/).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { all, exec, mustExec, timed } from '../exec';
import { procsMentioning, type Proc } from '../proc-memory';
import { unmountUnder } from './cleanup';
import { ctrName, type Subject } from './subject';

/** Whether podman is installed. */
export function podmanInstalled(): boolean {
  return spawnSync('podman', ['--version'], { stdio: 'ignore' }).status === 0;
}

export class PodmanSubject implements Subject {
  readonly name = 'podman';
  private base = '';

  constructor(private readonly image: string) {}

  private cli(args: string[]): string[] {
    const b = this.base;
    return [
      'podman',
      '--root', join(b, 'root'),
      '--runroot', join(b, 'run'),
      '--tmpdir', join(b, 'tmp'),
      '--storage-driver', 'overlay',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
      ...args,
    ];
  }

  private run(args: string[], capture = false) {
    const [cmd, ...rest] = this.cli(args);
    return mustExec(cmd, rest, { capture });
  }

  async setup(): Promise<void> {
    this.base = mkdtempSync('/tmp/cgb-pm-');
    await this.run(['pull', '-q', '--tls-verify=false', this.image]);
  }

  async startCli(n: number): Promise<void> {
    await all(n, (i) =>
      this.run(['run', '-d', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--name', ctrName(i), this.image, 'sleep', '3600']),
    );
  }

  async countRunning(): Promise<number> {
    const r = await this.run(['ps', '-q'], true);
    return r.stdout.split('\n').filter(Boolean).length;
  }

  async removeCli(n: number): Promise<void> {
    // -t 0: kill at once, as docker's rm -f does (podman would otherwise wait the stop timeout).
    await this.run(['rm', '-f', '-t', '0', ...Array.from({ length: n }, (_, i) => ctrName(i))]);
  }

  planeProcs(): Proc[] {
    return procsMentioning([join(this.base, 'root')]).filter((p) => p.comm !== 'podman');
  }

  component(p: Proc): string {
    return p.comm;
  }

  cliCommands(): Record<string, string[]> {
    return { ps: this.cli(['ps']), version: this.cli(['version']) };
  }

  async pull(image: string): Promise<{ ms: number }> {
    await this.run(['rmi', '-f', image]);
    return { ms: await timed(() => this.run(['pull', '-q', '--tls-verify=false', image])) };
  }

  async teardown(): Promise<void> {
    if (!this.base) return;
    const [cmd, ...args] = this.cli(['rm', '-af', '-t', '0']);
    await exec(cmd, args);
    for (const p of procsMentioning([this.base])) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    unmountUnder(this.base);
    rmSync(this.base, { recursive: true, force: true });
    this.base = '';
  }
}
