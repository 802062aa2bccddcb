import { E } from '@conga/common';
import { runCommand } from './run-command';

/** What `runc state` / `runc list --format json` report for one container. */
export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped' | string;
  bundle: string;
  created: string;
}

/**
 * Thin wrapper over the runc CLI with a private state root (`--root`). Internal to the
 * executor; every id passed here has been validated.
 */
export class Runc {
  constructor(
    readonly binary: string,
    readonly root: string,
  ) {}

  private async run(op: string, args: string[]): Promise<string> {
    const r = await runCommand(this.binary, ['--root', this.root, ...args]);
    if (r.code !== 0) throw E.RuntimeFailed(`${op}`, runcMessage(r.stderr) || `exit code ${r.code}`);
    return r.stdout;
  }

  /** State of one container, or undefined when runc does not know it. */
  async state(id: string): Promise<RuncState | undefined> {
    const r = await runCommand(this.binary, ['--root', this.root, 'state', id]);
    if (r.code !== 0) {
      if (/does not exist|not exist|no such/i.test(r.stderr)) return undefined;
      throw E.RuntimeFailed('state', runcMessage(r.stderr) || `exit code ${r.code}`);
    }
    return JSON.parse(r.stdout) as RuncState;
  }

  /** All containers under this root, by id. */
  async list(): Promise<Map<string, RuncState>> {
    const out = await this.run('list', ['list', '--format', 'json']);
    const arr = (JSON.parse(out.trim() || 'null') ?? []) as RuncState[];
    return new Map(arr.map((s) => [s.id, s]));
  }

  async start(id: string): Promise<void> {
    await this.run('start', ['start', id]);
  }

  async kill(id: string, signal: number, all: boolean): Promise<void> {
    await this.run('kill', ['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async pause(id: string): Promise<void> {
    await this.run('pause', ['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run('resume', ['resume', id]);
  }

  /** `runc update -r FILE`: FILE holds an OCI linux.resources object. */
  async update(id: string, resourcesFile: string): Promise<void> {
    await this.run('update', ['update', '-r', resourcesFile, id]);
  }

  /** `runc delete [--force]`; a container runc does not know is not an error. */
  async delete(id: string, force: boolean): Promise<void> {
    const r = await runCommand(this.binary, ['--root', this.root, 'delete', ...(force ? ['--force'] : []), id]);
    if (r.code !== 0 && !/does not exist|not exist/i.test(r.stderr)) {
      throw E.RuntimeFailed('delete', runcMessage(r.stderr) || `exit code ${r.code}`);
    }
  }
}

/** The human part of runc's logrus output (`msg="..."`), or the trimmed text. */
export function runcMessage(stderr: string): string {
  const msgs = [...stderr.matchAll(/msg="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\'));
  return (msgs.length ? msgs.join('; ') : stderr).trim();
}
