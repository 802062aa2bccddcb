import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { runCommand, startDaemon, type Daemon, type RunResult } from '../harness/daemon';

/**
 * The real docker CLI (client 28) against congad: DOCKER_HOST points at the daemon's socket and
 * HOME at a private directory. Every docker process gets a timeout, so a hang fails the test.
 */
const DOCKER = '/usr/local/bin/docker';
const skipAll = existsSync(DOCKER) ? false : 'the docker CLI is not installed at /usr/local/bin/docker';

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('docker CLI 28 against congad', { skip: skipAll }, () => {
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
  const state = async (name: string): Promise<string> => (await ok(['inspect', '-f', '{{.State.Status}}', name])).trim();

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'conga-docker-home-'));
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'dk/busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    await ok(['pull', ref], 120_000);
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('version and info', async () => {
    const v = await ok(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}']);
    assert.match(v, /^1\.\d+ linux$/m);
    const info = await ok(['info', '--format', '{{.OSType}} {{.Containers}}']);
    assert.match(info, /^linux \d+/);
  });

  test('pull and images', async () => {
    const out = await ok(['pull', ref], 120_000);
    assert.match(out, /Digest: sha256:[a-f0-9]{64}/);
    const imgs = await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.ok(imgs.split('\n').includes(ref), imgs);
  });

  test('tag and rmi', async () => {
    const tagged = `${reg.host}/dk/tagged:v2`;
    await ok(['tag', ref, tagged]);
    assert.match(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), /dk\/tagged:v2/);
    assert.match(await ok(['rmi', tagged]), /Untagged: /);
    assert.doesNotMatch(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), /dk\/tagged:v2/);
  });

  test('run attached: output and exit code', async () => {
    const r = await docker(['run', '--rm', ref, 'sh', '-c', 'echo hi; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'hi\n');
  });

  test('run -e and -w', async () => {
    assert.equal(await ok(['run', '--rm', '-e', 'FOO=bar', '-w', '/tmp', ref, 'sh', '-c', 'echo $FOO $(pwd)']), 'bar /tmp\n');
  });

  test('run --rm removes the container', async () => {
    await ok(['run', '--rm', '--name', 'dk-rm', ref, 'true']);
    const r = await docker(['inspect', 'dk-rm']);
    assert.notEqual(r.code, 0);
  });

  test('run -d --name, ps filters and --format, inspect -f', async () => {
    const id = (await ok(['run', '-d', '--name', 'dk-bg', '-l', 'dk=1', ref, 'sleep', '300'])).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    assert.equal(await state('dk-bg'), 'running');
    assert.equal((await ok(['inspect', '-f', '{{.Name}} {{.Config.Image}}', id])).trim(), `/dk-bg ${ref}`);
    assert.equal(await ok(['ps', '--filter', 'name=dk-bg', '--format', '{{.Names}}']), 'dk-bg\n');
    assert.equal(await ok(['ps', '--filter', 'label=dk=1', '--format', '{{.Names}}']), 'dk-bg\n');
    assert.equal(await ok(['ps', '-q', '--no-trunc', '--filter', 'status=running', '--filter', 'name=dk-bg']), `${id}\n`);
    assert.equal(await ok(['ps', '--filter', 'status=exited', '--filter', 'name=dk-bg', '--format', '{{.Names}}']), '');
    await ok(['rm', '-f', 'dk-bg']);
  });

  test('logs', async () => {
    await ok(['run', '-d', '--name', 'dk-logs', ref, 'sh', '-c', 'echo out; echo err >&2']);
    await until('dk-logs to exit', async () => (await state('dk-logs')) === 'exited');
    const r = await docker(['logs', 'dk-logs']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    await ok(['rm', 'dk-logs']);
  });

  test('stop, start, restart, kill, rm', async () => {
    await ok(['run', '-d', '--name', 'dk-life', ref, 'sleep', '300']);
    await ok(['stop', '-t', '1', 'dk-life']);
    assert.equal(await state('dk-life'), 'exited');
    await ok(['start', 'dk-life']);
    assert.equal(await state('dk-life'), 'running');
    await ok(['restart', '-t', '1', 'dk-life']);
    assert.equal(await state('dk-life'), 'running');
    await ok(['kill', 'dk-life']);
    await until('dk-life to be killed', async () => (await state('dk-life')) === 'exited');
    await ok(['rm', 'dk-life']);
    assert.notEqual((await docker(['inspect', 'dk-life'])).code, 0);
  });

  test('exec', async () => {
    await ok(['run', '-d', '--name', 'dk-exec', ref, 'sleep', '300']);
    assert.equal(await ok(['exec', '-e', 'X=y', 'dk-exec', 'sh', '-c', 'echo $X']), 'y\n');
    const r = await docker(['exec', 'dk-exec', 'sh', '-c', 'exit 7']);
    assert.equal(r.code, 7, r.stderr);
    await ok(['rm', '-f', 'dk-exec']);
  });

  test('pause and unpause', async () => {
    await ok(['run', '-d', '--name', 'dk-pause', ref, 'sleep', '300']);
    await ok(['pause', 'dk-pause']);
    assert.equal(await state('dk-pause'), 'paused');
    await ok(['unpause', 'dk-pause']);
    assert.equal(await state('dk-pause'), 'running');
    await ok(['rm', '-f', 'dk-pause']);
  });

  test('rename', async () => {
    await ok(['create', '--name', 'dk-old', ref, 'true']);
    await ok(['rename', 'dk-old', 'dk-new']);
    assert.equal((await ok(['inspect', '-f', '{{.Name}}', 'dk-new'])).trim(), '/dk-new');
    assert.notEqual((await docker(['inspect', 'dk-old'])).code, 0);
    await ok(['rm', 'dk-new']);
  });

  test('wait', async () => {
    await ok(['run', '-d', '--name', 'dk-wait', ref, 'sh', '-c', 'sleep 0.2; exit 5']);
    assert.equal(await ok(['wait', 'dk-wait']), '5\n');
    await ok(['rm', 'dk-wait']);
  });

  test('stats --no-stream and top', async () => {
    await ok(['run', '-d', '--name', 'dk-stats', ref, 'sleep', '300']);
    const s = await ok(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}', 'dk-stats']);
    assert.match(s, /^dk-stats \S+/);
    const top = await ok(['top', 'dk-stats']);
    assert.match(top, /PID/);
    assert.match(top, /sleep 300/);
    await ok(['rm', '-f', 'dk-stats']);
  });

  test('network create, ls, rm', async () => {
    await ok(['network', 'create', 'dk-net']);
    assert.ok((await ok(['network', 'ls', '--format', '{{.Name}}'])).split('\n').includes('dk-net'));
    await ok(['network', 'rm', 'dk-net']);
    assert.ok(!(await ok(['network', 'ls', '--format', '{{.Name}}'])).split('\n').includes('dk-net'));
  });

  test('volume create, ls, rm', async () => {
    assert.equal(await ok(['volume', 'create', 'dk-vol']), 'dk-vol\n');
    assert.ok((await ok(['volume', 'ls', '-q'])).split('\n').includes('dk-vol'));
    await ok(['volume', 'rm', 'dk-vol']);
    assert.ok(!(await ok(['volume', 'ls', '-q'])).split('\n').includes('dk-vol'));
  });

  test('save and load', async () => {
    const archive = join(home, 'bb.tar');
    await ok(['save', '-o', archive, ref], 120_000);
    assert.ok(statSync(archive).size > 100_000);
    await ok(['rmi', ref]);
    assert.match(await ok(['load', '-i', archive], 120_000), /Loaded image: /);
    assert.ok((await ok(['images', '--format', '{{.Repository}}:{{.Tag}}'])).split('\n').includes(ref));
  });

  test('system df', async () => {
    const out = await ok(['system', 'df']);
    assert.match(out, /TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE/);
    assert.match(out, /Images\s+\d+/);
  });

  test('events --since/--until', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await ok(['run', '--rm', '--name', 'dk-ev', ref, 'true']);
    const until = Math.floor(Date.now() / 1000) + 1;
    const out = await ok(['events', '--since', String(since), '--until', String(until), '--filter', 'container=dk-ev', '--format', '{{.Status}}'], 30_000);
    const seen = out.trim().split('\n');
    for (const s of ['create', 'start', 'die', 'destroy']) assert.ok(seen.includes(s), `${s} missing in ${out}`);
  });

  test('image inspect and history', async () => {
    assert.match(await ok(['image', 'inspect', '-f', '{{.Id}} {{.Os}}', ref]), /^sha256:[a-f0-9]{64} linux$/m);
    assert.match(await ok(['history', ref]), /IMAGE\s+CREATED\s+CREATED BY\s+SIZE/);
  });

  test('logs --tail and --timestamps', async () => {
    await ok(['run', '--name', 'dk-tail', ref, 'sh', '-c', 'echo a; echo b; echo c']);
    assert.equal(await ok(['logs', '--tail', '2', 'dk-tail']), 'b\nc\n');
    assert.match(await ok(['logs', '-t', '--tail', '1', 'dk-tail']), /^\d{4}-\d\d-\d\dT\S+ c\n$/);
    await ok(['rm', 'dk-tail']);
  });

  test('ps -a with the exited filter, container prune', async () => {
    assert.equal((await docker(['run', '--name', 'dk-ex', ref, 'sh', '-c', 'exit 4'])).code, 4);
    assert.equal(await ok(['ps', '-a', '--filter', 'exited=4', '--format', '{{.Names}}']), 'dk-ex\n');
    assert.match(await ok(['container', 'prune', '-f']), /Total reclaimed space/);
    assert.notEqual((await docker(['inspect', 'dk-ex'])).code, 0);
  });

  test('run -v with a named volume', async () => {
    await ok(['run', '--rm', '-v', 'dk-data:/data', ref, 'sh', '-c', 'echo kept > /data/f']);
    assert.equal(await ok(['run', '--rm', '-v', 'dk-data:/data', ref, 'cat', '/data/f']), 'kept\n');
    await ok(['volume', 'rm', 'dk-data']);
  });

  test('run --network on a user network', async () => {
    await ok(['network', 'create', 'dk-net2']);
    const out = await ok(['run', '--rm', '--network', 'dk-net2', ref, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    assert.match(out, /inet \d+\.\d+\.\d+\.\d+/);
    await ok(['network', 'rm', 'dk-net2']);
  });

  test('search answers a clear not-implemented error', async () => {
    const r = await docker(['search', 'busybox']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not implemented/i);
  });

  // docker cp / export / diff: docker-cli-cp.test.ts.

  test('build answers a clear not-implemented error', async () => {
    const ctx = mkdtempSync(join(home, 'ctx-'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${ref}\n`);
    const r = await runCommand(DOCKER, ['build', '-q', ctx], { timeoutMs: 60_000, env: { PATH: process.env.PATH, HOME: home, DOCKER_HOST: `unix://${d.socket}`, DOCKER_BUILDKIT: '0' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not implemented/i);
  });
});
