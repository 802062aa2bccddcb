import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';
import { DOCKER, dockerCli, dockerSkip, until } from '../harness/docker-cli';

/** GET http://127.0.0.1:port/path → body (status must be 200). */
function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * More docker CLI 28 scenarios against congad (the first 27 are in docker-cli.test.ts; cp, export
 * and diff in docker-cli-cp.test.ts). Each scenario asserts what docker itself prints or does.
 */
describe('docker CLI 28 against congad, more scenarios', { skip: dockerSkip }, () => {
  let reg: TestRegistry;
  let d: Daemon;
  let home: string;
  let ref: string;
  const dk = dockerCli(() => d, () => home);
  const { ok, state } = dk;

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'conga-docker-home-'));
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'dkm/busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    await ok(['pull', ref], 120_000);
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('-p with a random host port, docker port, HTTP GET through it', async () => {
    await ok(['run', '-d', '--name', 'dkm-web', '-p', '127.0.0.1::80', ref, 'sh', '-c', 'mkdir /www && echo hello-web > /www/index.html && exec httpd -f -p 80 -h /www']);
    const mapped = (await ok(['port', 'dkm-web', '80/tcp'])).trim();
    const m = /^127\.0\.0\.1:(\d+)$/.exec(mapped);
    assert.ok(m, mapped);
    let body = '';
    await until('httpd to answer', async () => {
      body = await httpGet(Number(m[1]), '/index.html').catch(() => '');
      return body !== '';
    });
    assert.equal(body, 'hello-web\n');
    assert.match(await ok(['ps', '--filter', 'name=dkm-web', '--format', '{{.Ports}}']), new RegExp(`127\\.0\\.0\\.1:${m[1]}->80/tcp`));
    await ok(['rm', '-f', 'dkm-web']);
  });

  test('run --rm -i with piped stdin', async () => {
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const p = spawn(DOCKER, ['run', '--rm', '-i', ref, 'sh', '-c', 'tr a-z A-Z; echo done'], { env: { PATH: process.env.PATH, HOME: home, DOCKER_HOST: `unix://${d.socket}` } });
      let stdout = '';
      p.stdout.on('data', (c) => (stdout += c));
      const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, stdout });
      });
      p.stdin.end('piped text\n');
    });
    assert.equal(out.code, 0);
    assert.equal(out.stdout, 'PIPED TEXT\ndone\n');
  });

  test('exec -i with piped stdin; exec of a missing binary exits 127', async () => {
    await ok(['run', '-d', '--name', 'dkm-exi', ref, 'sleep', '300']);
    const out = await new Promise<string>((resolve) => {
      const p = spawn(DOCKER, ['exec', '-i', 'dkm-exi', 'wc', '-l'], { env: { PATH: process.env.PATH, HOME: home, DOCKER_HOST: `unix://${d.socket}` } });
      let s = '';
      p.stdout.on('data', (c) => (s += c));
      const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('close', () => {
        clearTimeout(t);
        resolve(s);
      });
      p.stdin.end('1\n2\n3\n');
    });
    assert.equal(out.trim(), '3');
    const missing = await dk.run(['exec', 'dkm-exi', '/no/such/binary']);
    assert.equal(missing.code, 127, missing.stderr);
    await ok(['rm', '-f', 'dkm-exi']);
  });

  test('push, then pull by digest', async () => {
    const target = `${reg.host}/dkm/pushed:v1`;
    await ok(['tag', ref, target]);
    const pushed = await ok(['push', target], 120_000);
    const m = /digest: (sha256:[a-f0-9]{64})/.exec(pushed);
    assert.ok(m, pushed);
    await ok(['rmi', target]);
    const byDigest = `${reg.host}/dkm/pushed@${m[1]}`;
    assert.match(await ok(['pull', byDigest], 120_000), new RegExp(`Digest: ${m[1]}`));
    assert.match(await ok(['images', '--digests', '--format', '{{.Repository}}@{{.Digest}}']), new RegExp(`${reg.host}/dkm/pushed@${m[1]}`));
    assert.equal(await ok(['run', '--rm', byDigest, 'echo', 'from-digest']), 'from-digest\n');
  });

  test("inspect '{{json .State}}'", async () => {
    await ok(['run', '--name', 'dkm-json', ref, 'sh', '-c', 'exit 2']).catch(() => undefined);
    const s = JSON.parse(await ok(['inspect', '-f', '{{json .State}}', 'dkm-json']));
    assert.equal(s.Status, 'exited');
    assert.equal(s.ExitCode, 2);
    assert.equal(s.Running, false);
    assert.match(s.FinishedAt, /^\d{4}-/);
    await ok(['rm', 'dkm-json']);
  });

  test("ps --format 'table {{.Names}}\\t{{.Status}}' and the status filters", async () => {
    await ok(['run', '-d', '--name', 'dkm-st-up', ref, 'sleep', '300']);
    await ok(['create', '--name', 'dkm-st-cr', ref, 'true']);
    const table = await ok(['ps', '-a', '--filter', 'name=dkm-st-', '--format', 'table {{.Names}}\t{{.Status}}']);
    const lines = table.trimEnd().split('\n');
    assert.match(lines[0], /^NAMES\s+STATUS$/);
    assert.ok(lines.some((l) => /^dkm-st-up\s+Up /.test(l)), table);
    assert.ok(lines.some((l) => /^dkm-st-cr\s+Created$/.test(l)), table);
    assert.equal(await ok(['ps', '-a', '--filter', 'status=created', '--filter', 'name=dkm-st-', '--format', '{{.Names}}']), 'dkm-st-cr\n');
    assert.equal(await ok(['ps', '--filter', 'status=running', '--filter', 'name=dkm-st-', '--format', '{{.Names}}']), 'dkm-st-up\n');
    await ok(['rm', '-f', 'dkm-st-up', 'dkm-st-cr']);
  });

  test('logs -f ends when the container exits', async () => {
    await ok(['run', '-d', '--name', 'dkm-follow', ref, 'sh', '-c', 'echo one; sleep 1; echo two']);
    const r = await dk.run(['logs', '-f', 'dkm-follow'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'one\ntwo\n');
    await ok(['rm', 'dkm-follow']);
  });

  test('network connect and disconnect', async () => {
    await ok(['network', 'create', 'dkm-net']);
    await ok(['run', '-d', '--name', 'dkm-nc', ref, 'sleep', '300']);
    await ok(['network', 'connect', 'dkm-net', 'dkm-nc']);
    assert.match(await ok(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', 'dkm-nc']), /dkm-net/);
    assert.match(await ok(['exec', 'dkm-nc', 'ip', '-o', 'link']), /eth1/);
    await ok(['network', 'disconnect', 'dkm-net', 'dkm-nc']);
    assert.doesNotMatch(await ok(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', 'dkm-nc']), /dkm-net/);
    await ok(['rm', '-f', 'dkm-nc']);
    await ok(['network', 'rm', 'dkm-net']);
  });

  test('volume inspect and volume ls --filter', async () => {
    await ok(['volume', 'create', '--label', 'dkm=1', 'dkm-vol']);
    await ok(['volume', 'create', 'dkm-vol2']);
    const v = JSON.parse(await ok(['volume', 'inspect', 'dkm-vol']))[0];
    assert.equal(v.Name, 'dkm-vol');
    assert.equal(v.Driver, 'local');
    assert.deepEqual(v.Labels, { dkm: '1' });
    assert.match(v.Mountpoint, /dkm-vol\/_data$/);
    assert.equal(await ok(['volume', 'ls', '-q', '--filter', 'label=dkm=1']), 'dkm-vol\n');
    assert.equal(await ok(['volume', 'ls', '--filter', 'name=dkm-vol2', '--format', '{{.Name}} {{.Driver}}']), 'dkm-vol2 local\n');
    await ok(['volume', 'rm', 'dkm-vol', 'dkm-vol2']);
  });

  test("system info --format '{{.ServerVersion}}'", async () => {
    const v = (await ok(['system', 'info', '--format', '{{.ServerVersion}}'])).trim();
    assert.equal(v, (await d.api('GET', '/version')).body.Version);
    assert.match(v, /^\d+\.\d+\.\d+/);
  });

  test('events --filter event=die with --since/--until', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await dk.run(['run', '--name', 'dkm-die', ref, 'sh', '-c', 'exit 6']);
    const untilTs = Math.floor(Date.now() / 1000) + 1;
    const out = await ok(['events', '--since', String(since), '--until', String(untilTs), '--filter', 'event=die', '--filter', 'container=dkm-die', '--format', '{{.Status}} {{.Actor.Attributes.exitCode}}'], 30_000);
    assert.equal(out, 'die 6\n');
    await ok(['rm', 'dkm-die']);
  });

  test('--health-cmd reaches healthy', async () => {
    await ok(['run', '-d', '--name', 'dkm-health', '--health-cmd', 'test -e /tmp/ready', '--health-interval', '200ms', '--health-retries', '50', ref, 'sh', '-c', 'touch /tmp/ready; sleep 300']);
    const health = async () => (await ok(['inspect', '-f', '{{.State.Health.Status}}', 'dkm-health'])).trim();
    await until('dkm-health to be healthy', async () => (await health()) === 'healthy', 30_000);
    assert.match(await ok(['ps', '--filter', 'name=dkm-health', '--format', '{{.Status}}']), /\(healthy\)/);
    assert.equal(await ok(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}']), 'dkm-health\n');
    await ok(['rm', '-f', 'dkm-health']);
  });

  test('update --memory changes the cgroup limit', async () => {
    await ok(['run', '-d', '--name', 'dkm-upd', '-m', '64m', ref, 'sleep', '300']);
    await ok(['update', '--memory', '96m', '--memory-swap', '192m', 'dkm-upd']);
    assert.equal((await ok(['inspect', '-f', '{{.HostConfig.Memory}}', 'dkm-upd'])).trim(), String(96 * 1024 * 1024));
    const limit = (await ok(['exec', 'dkm-upd', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'])).trim();
    assert.equal(limit, String(96 * 1024 * 1024));
    await ok(['rm', '-f', 'dkm-upd']);
  });

  test('create, then start -a prints the output and the exit code', async () => {
    await ok(['create', '--name', 'dkm-sa', ref, 'sh', '-c', 'echo attached-out; exit 9']);
    assert.equal(await state('dkm-sa'), 'created');
    const r = await dk.run(['start', '-a', 'dkm-sa']);
    assert.equal(r.code, 9, r.stderr);
    assert.equal(r.stdout, 'attached-out\n');
    await ok(['rm', 'dkm-sa']);
  });

  test('container prune keeps running containers; image prune -a removes unused images', async () => {
    await ok(['run', '-d', '--name', 'dkm-keep', ref, 'sleep', '300']);
    await ok(['create', '--name', 'dkm-drop', ref, 'true']);
    assert.match(await ok(['container', 'prune', '-f']), /Deleted Containers:\n(?:.*\n)*[a-f0-9]{64}\n/);
    assert.notEqual((await dk.run(['inspect', 'dkm-drop'])).code, 0);
    assert.equal(await state('dkm-keep'), 'running');
    const spare = `${reg.host}/dkm/spare:v1`;
    await ok(['tag', ref, spare]);
    // The image is still used by dkm-keep: tags go, the image stays.
    const pruned = await ok(['image', 'prune', '-a', '-f']);
    assert.match(pruned, /Total reclaimed space/);
    assert.ok((await ok(['images', '-q', '--no-trunc'])).trim().length > 0, 'an image used by a container must not be pruned');
    await ok(['rm', '-f', 'dkm-keep']);
    await ok(['pull', ref], 120_000);
  });

  test('system df -v lists images, containers and volumes', async () => {
    await ok(['volume', 'create', 'dkm-dfv']);
    await ok(['run', '--name', 'dkm-df', '-v', 'dkm-dfv:/data', ref, 'sh', '-c', 'head -c 100000 /dev/zero > /big; head -c 50000 /dev/zero > /data/f']);
    // Real sizes: the writable layer (ps -s, inspect --size) and the volume's contents.
    assert.match(await ok(['ps', '-a', '-s', '--filter', 'name=dkm-df', '--format', '{{.Size}}']), /^100kB \(virtual \d/);
    assert.equal((await ok(['inspect', '--size', '-f', '{{.SizeRw}}', 'dkm-df'])).trim(), '100000');
    const out = await ok(['system', 'df', '-v']);
    assert.match(out, /dkm-dfv\s+1\s+50kB/);
    assert.match(out, /Images space usage:/);
    assert.match(out, /Containers space usage:/);
    assert.match(out, /Local Volumes space usage:/);
    assert.match(out, /dkm-df/);
    await ok(['rm', 'dkm-df']);
    await ok(['volume', 'rm', 'dkm-dfv']);
  });

  test('logs --since and --until', async () => {
    await ok(['run', '--name', 'dkm-since', ref, 'sh', '-c', 'echo early; sleep 2; echo late']);
    const ts = (await ok(['logs', '-t', 'dkm-since'])).trim().split('\n');
    assert.equal(ts.length, 2, ts.join('\n'));
    // Both bounds are inclusive, to the nanosecond, as in dockerd.
    const [earlyAt, lateAt] = ts.map((l) => l.split(' ')[0]);
    assert.equal(await ok(['logs', '--since', lateAt, 'dkm-since']), 'late\n');
    assert.equal(await ok(['logs', '--until', earlyAt, 'dkm-since']), 'early\n');
    await ok(['rm', 'dkm-since']);
  });

  test('tag then rmi untags only, the last rmi deletes', async () => {
    const a = `${reg.host}/dkm/untag:a`;
    const b = `${reg.host}/dkm/untag:b`;
    await ok(['tag', ref, a]);
    await ok(['tag', ref, b]);
    const id = (await ok(['image', 'inspect', '-f', '{{.Id}}', ref])).trim();
    const first = await ok(['rmi', a]);
    assert.equal(first, `Untagged: ${a}\n`);
    assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', b])).trim(), id);
    // A reference by ID with several tags is refused without -f, like dockerd.
    const byId = await dk.run(['rmi', id]);
    assert.notEqual(byId.code, 0);
    assert.match(byId.stderr, /conflict|referenced in multiple repositories|-f/i);
    await ok(['rmi', b]);
    assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', ref])).trim(), id);
  });

  test('rename a running container, then wait on it', async () => {
    await ok(['run', '-d', '--name', 'dkm-ren', ref, 'sh', '-c', 'sleep 1; exit 11']);
    await ok(['rename', 'dkm-ren', 'dkm-ren2']);
    assert.equal(await ok(['ps', '-a', '--filter', 'name=dkm-ren', '--format', '{{.Names}}']), 'dkm-ren2\n');
    assert.equal(await ok(['wait', 'dkm-ren2']), '11\n');
    await ok(['rm', 'dkm-ren2']);
  });
});
