/**
 * Bare runc: the physical floor. N bundles are prepared up front (overlay rootfs mounted over one
 * extracted busybox layer, config.json from `runc spec` running `sleep 3600` without a terminal),
 * so the timed part is exactly `runc run -d` / `runc delete -f`. Owner: benchmarks (bench/).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { all, exec, mustExec } from '../exec';
import type { Proc } from '../proc-memory';
import { ctrName, type Subject } from './subject';
import { unmountUnder } from './cleanup';

export class RuncSubject implements Subject {
  readonly name = 'runc';
  private base = '';
  private stateRoot = '';

  constructor(
    private readonly layerTarGz: Buffer,
    private readonly n: number,
  ) {}

  async setup(): Promise<void> {
    this.base = mkdtempSync('/tmp/cgb-runc-');
    this.stateRoot = join(this.base, 'state');
    const lower = join(this.base, 'lower');
    mkdirSync(lower);
    writeFileSync(join(this.base, 'layer.tar.gz'), this.layerTarGz);
    await mustExec('tar', ['-xzf', join(this.base, 'layer.tar.gz'), '-C', lower]);
    await mustExec('runc', ['spec', '--bundle', this.base]);
    const spec = JSON.parse(readFileSync(join(this.base, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    spec.process.args = ['sleep', '3600'];
    spec.root = { path: 'rootfs', readonly: false };
    for (let i = 0; i < this.n; i++) {
      const b = this.bundle(i);
      for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(b, d), { recursive: true });
      await mustExec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${b}/upper,workdir=${b}/work`, join(b, 'rootfs')]);
      writeFileSync(join(b, 'config.json'), JSON.stringify({ ...spec, hostname: ctrName(i) }));
    }
  }

  private bundle(i: number): string {
    return join(this.base, 'b', String(i));
  }

  async startCli(n: number): Promise<void> {
    await all(n, (i) => mustExec('runc', ['--root', this.stateRoot, 'run', '-d', '--bundle', this.bundle(i), ctrName(i)]));
  }

  private async list(): Promise<Array<{ id: string; status: string }>> {
    const r = await exec('runc', ['--root', this.stateRoot, 'list', '--format', 'json'], { capture: true });
    return r.code === 0 ? (JSON.parse(r.stdout || 'null') ?? []) : [];
  }

  async countRunning(): Promise<number> {
    return (await this.list()).filter((c) => c.status === 'running').length;
  }

  async removeCli(n: number): Promise<void> {
    await all(n, (i) => mustExec('runc', ['--root', this.stateRoot, 'delete', '-f', ctrName(i)]));
  }

  planeProcs(): Proc[] {
    return [];
  }

  component(p: Proc): string {
    return p.comm;
  }

  cliCommands(): Record<string, string[]> {
    return { ps: ['runc', '--root', this.stateRoot, 'list'], version: ['runc', '--version'] };
  }

  async teardown(): Promise<void> {
    if (!this.base) return;
    for (const c of await this.list()) spawnSync('runc', ['--root', this.stateRoot, 'delete', '-f', c.id], { stdio: 'ignore' });
    unmountUnder(this.base);
    rmSync(this.base, { recursive: true, force: true });
    this.base = '';
  }
}
