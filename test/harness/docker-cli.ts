/**
 * The real docker CLI (client 28) against a test congad, shared by the docker CLI e2e suites:
 * DOCKER_HOST points at the daemon's socket and HOME at a private directory; every docker
 * process gets a timeout, so a hang fails the test instead of the run.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { runCommand, type Daemon, type RunResult } from './daemon';

export const DOCKER = '/usr/local/bin/docker';
/** A `skip` value for describe(): false when the docker CLI is installed. */
export const dockerSkip: string | false = existsSync(DOCKER) ? false : 'the docker CLI is not installed at /usr/local/bin/docker';

export interface DockerCli {
  /** Run docker; never throws. */
  run(args: string[], opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /** Run docker, assert exit 0, return stdout. */
  ok(args: string[], timeoutMs?: number): Promise<string>;
  /** `docker inspect -f {{.State.Status}}`. */
  state(name: string): Promise<string>;
}

export function dockerCli(d: () => Daemon, home: () => string): DockerCli {
  const run: DockerCli['run'] = (args, o = {}) =>
    runCommand(DOCKER, args, { timeoutMs: o.timeoutMs ?? 60_000, env: { PATH: process.env.PATH, HOME: home(), DOCKER_HOST: `unix://${d().socket}`, ...o.env } });
  const ok: DockerCli['ok'] = async (args, timeoutMs) => {
    const r = await run(args, { timeoutMs });
    assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const state = async (name: string) => (await ok(['inspect', '-f', '{{.State.Status}}', name])).trim();
  return { run, ok, state };
}

/** Poll `check` every 100 ms until it holds; fail after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}
