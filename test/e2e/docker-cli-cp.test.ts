import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { runCommand, startDaemon, type Daemon, type RunResult } from '../harness/daemon';

/**
 * The real docker CLI (client 28) doing cp (both ways, HEAD stat + GET/PUT archive), export and
 * diff against congad (all-in-one), with DOCKER_HOST at the daemon's socket.
 */
const DOCKER = '/usr/local/bin/docker';
const skipAll = existsSync(DOCKER) ? false : 'the docker CLI is not installed at /usr/local/bin/docker';

describe('docker CLI 28: cp, export, diff', { skip: skipAll }, () => {
  let reg: TestRegistry;
  let d: Daemon;
  let home: string;
  let ref: string;

  const docker = (args: string[], timeoutMs = 60_000): Promise<RunResult> =>
    runCommand(DOCKER, args, { timeoutMs, env: { PATH: process.env.PATH, HOME: home, DOCKER_HOST: `unix://${d.socket}` } });
  const ok = async (args: string[], timeoutMs?: number): Promise<string> => {
    const r = await docker(args, timeoutMs);
    assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'conga-docker-cp-'));
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'dk/busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    await ok(['pull', ref], 120_000);
    await ok(['run', '-d', '--name', 'dk-cp', ref, 'sleep', '600']);
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('docker cp into and out of a container, files and directories', async () => {
    const src = join(home, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'f'), 'from the host');
    await ok(['cp', src, 'dk-cp:/tmp/']);
    await ok(['cp', join(src, 'sub', 'f'), 'dk-cp:/tmp/single']);
    const out = join(home, 'out');
    await ok(['cp', 'dk-cp:/tmp/src', out]);
    assert.equal(readFileSync(join(out, 'sub', 'f'), 'utf8'), 'from the host');
    await ok(['cp', 'dk-cp:/tmp/single', join(home, 'single')]);
    assert.equal(readFileSync(join(home, 'single'), 'utf8'), 'from the host');
    const miss = await docker(['cp', 'dk-cp:/no/such', join(home, 'x')]);
    assert.notEqual(miss.code, 0);
    assert.match(miss.stderr, /Could not find the file \/no\/such in container dk-cp/);
  });

  test('docker export', async () => {
    const file = join(home, 'exp.tar');
    await ok(['export', '-o', file, 'dk-cp']);
    assert.match((await runCommand('tar', ['-tf', file])).stdout, /^bin\/busybox$/m);
  });

  test('docker diff', async () => {
    await ok(['run', '--name', 'dk-diff', ref, 'sh', '-c', 'echo x > /added && rm /etc/group']);
    const out = await ok(['diff', 'dk-diff']);
    assert.match(out, /^A \/added$/m);
    assert.match(out, /^D \/etc\/group$/m);
    assert.match(out, /^C \/etc$/m);
  });
});
