/**
 * Docker (Debian's docker.io): its own dockerd (which starts its own containerd) with a private
 * --data-root, --exec-root and unix socket, no iptables, no bridge, so it never touches the host
 * network. The image is pulled from the bench's local registry (127.0.0.0/8 is insecure by
 * default). Owner: benchmarks (bench/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { join } from 'node:path';
import { all, benchEnv, exec, mustExec, timed, until } from '../exec';
import { procsMentioning, type Proc } from '../proc-memory';
import { api, apiAgent, apiCountRunning, apiRun } from './api-client';
import { unmountUnder } from './cleanup';
import { ctrName, type Subject } from './subject';

/** The docker CLI matching Debian's dockerd when present, else whatever is on PATH. */
export const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** Whether dockerd and a docker CLI are installed. */
export function dockerInstalled(): boolean {
  return spawnSync('dockerd', ['--version'], { stdio: 'ignore' }).status === 0 && spawnSync(DOCKER_CLI, ['--version'], { stdio: 'ignore' }).status === 0;
}

export class DockerSubject implements Subject {
  readonly name = 'docker';
  private base = '';
  private socket = '';
  private proc?: ChildProcess;
  private agent?: Agent;

  constructor(private readonly image: string) {}

  private cli(args: string[]): string[] {
    return [DOCKER_CLI, '-H', `unix://${this.socket}`, ...args];
  }

  private run(args: string[], capture = false) {
    const [cmd, ...rest] = this.cli(args);
    return mustExec(cmd, rest, { capture });
  }

  async setup(): Promise<void> {
    this.base = mkdtempSync('/tmp/cgb-dk-');
    this.socket = join(this.base, 'docker.sock');
    writeFileSync(join(this.base, 'daemon.json'), '{}');
    const log = openSync(join(this.base, 'dockerd.log'), 'a');
    this.proc = spawn(
      'dockerd',
      [
        '--config-file', join(this.base, 'daemon.json'),
        '--data-root', join(this.base, 'data'),
        '--exec-root', join(this.base, 'ex'),
        '--pidfile', join(this.base, 'docker.pid'),
        '-H', `unix://${this.socket}`,
        '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--bridge=none', '--userland-proxy=false',
        '--storage-driver', 'overlay2',
        '--log-level', 'warn',
      ],
      { env: benchEnv(), stdio: ['ignore', log, log] },
    );
    await until('dockerd to answer /_ping', async () => {
      if (this.proc?.exitCode !== null) throw new Error(`dockerd exited (${this.proc?.exitCode}); see ${join(this.base, 'dockerd.log')}`);
      return api(this.socket, 'GET', '/_ping').then(() => true, () => false);
    }, 60_000);
    this.agent = apiAgent();
    await this.run(['pull', '-q', this.image]);
  }

  async startCli(n: number): Promise<void> {
    await all(n, (i) => this.run(['run', '-d', '--network', 'none', '--name', ctrName(i), this.image, 'sleep', '3600']));
  }

  async startApi(n: number): Promise<void> {
    await all(n, (i) => apiRun(this.socket, this.agent!, this.image, ctrName(i)));
  }

  countRunning(): Promise<number> {
    return apiCountRunning(this.socket);
  }

  async removeCli(n: number): Promise<void> {
    await this.run(['rm', '-f', ...Array.from({ length: n }, (_, i) => ctrName(i))]);
  }

  async removeApi(n: number): Promise<void> {
    await all(n, (i) => api(this.socket, 'DELETE', `/containers/${ctrName(i)}?force=1`, undefined, this.agent));
  }

  planeProcs(): Proc[] {
    // dockerd (--exec-root), its containerd (--config <exec-root>/…) and every shim (-address <exec-root>/…).
    return procsMentioning([join(this.base, 'ex')]);
  }

  component(p: Proc): string {
    return p.comm.startsWith('containerd-shim') ? 'containerd-shim' : p.comm;
  }

  cliCommands(): Record<string, string[]> {
    return { ps: this.cli(['ps']), version: this.cli(['version']) };
  }

  async pull(image: string): Promise<{ ms: number }> {
    await this.run(['rmi', '-f', image]);
    return { ms: await timed(() => this.run(['pull', image])) };
  }

  async teardown(): Promise<void> {
    if (!this.base) return;
    if (this.proc && this.proc.exitCode === null) {
      const [cmd, ...ps] = this.cli(['ps', '-aq']);
      const ids = (await exec(cmd, ps, { capture: true })).stdout.split('\n').filter(Boolean);
      if (ids.length) await exec(cmd, this.cli(['rm', '-f', ...ids]).slice(1));
      const p = this.proc;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    this.agent?.destroy();
    // containerd and shims that outlived dockerd (they are ours: their arguments name our dirs).
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
