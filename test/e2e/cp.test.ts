import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { REPO, mountsUnder, runCommand, startDaemon, type Daemon, type Mode } from '../harness/daemon';

/**
 * docker cp / export / diff through the bundled CLI and the Engine API against a real congad,
 * in both deployments: running containers (through /proc/<pid>/root) and stopped ones (rootfs
 * mounted for the call and unmounted after).
 */

let reg: TestRegistry;
let ref: string;
before(async () => {
  reg = await startRegistry();
  ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
});
after(async () => {
  await reg?.stop();
});

for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`cp, export, diff (${mode})`, () => {
    let d: Daemon;
    let tmp: string;
    const ok = async (args: string[]) => {
      const r = await d.cli(args);
      assert.equal(r.code, 0, `conga ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const sh = (cmd: string) => runCommand('sh', ['-c', cmd], { timeoutMs: 60_000 });
    const conga = () => `${process.execPath} ${join(REPO, 'bin', 'conga')} -H unix://${d.socket}`;
    // Read a container file back through GET /archive (tar -xO), independent of exec.
    const catIn = async (c: string, path: string) => {
      const r = await sh(`${conga()} cp ${c}:${path} - | tar -xOf -`);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const merged = () => mountsUnder(d.root).filter((m) => m.endsWith('/merged'));

    before(async () => {
      d = await startDaemon({ mode });
      await ok(['pull', ref]);
      tmp = mkdtempSync(join(tmpdir(), 'conga-cp-'));
      await ok(['run', '-d', '--name', 'live', ref, 'sleep', '600']);
      await ok(['create', '--name', 'cold', ref, 'true']);
    });
    after(async () => {
      await d?.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    test('file and directory into and out of a running container', async () => {
      const src = join(tmp, 'in');
      mkdirSync(join(src, 'sub'), { recursive: true });
      writeFileSync(join(src, 'a.txt'), 'alpha');
      writeFileSync(join(src, 'sub', 'b.txt'), 'beta');
      await ok(['cp', join(src, 'a.txt'), 'live:/tmp/renamed.txt']);
      assert.equal(await catIn('live', '/tmp/renamed.txt'), 'alpha');
      await ok(['cp', src, 'live:/tmp/']);
      assert.equal(await catIn('live', '/tmp/in/sub/b.txt'), 'beta');
      await ok(['cp', `${src}/.`, 'live:/tmp/contents']);
      assert.equal(await catIn('live', '/tmp/contents/sub/b.txt'), 'beta');

      const out = join(tmp, 'out');
      mkdirSync(out);
      await ok(['cp', 'live:/etc/passwd', join(out, 'pw')]);
      assert.match(readFileSync(join(out, 'pw'), 'utf8'), /^root:x:0:0/);
      await ok(['cp', 'live:/tmp/in', out]);
      assert.equal(readFileSync(join(out, 'in', 'sub', 'b.txt'), 'utf8'), 'beta');
      await ok(['cp', 'live:/tmp/in/.', join(out, 'flat')]);
      assert.deepEqual(readdirSync(join(out, 'flat')).sort(), ['a.txt', 'sub']);
    });

    test('a stopped container: copy in and out, and no mount is left', async () => {
      const before = merged().length;
      writeFileSync(join(tmp, 'cold.txt'), 'cold');
      await ok(['cp', join(tmp, 'cold.txt'), 'cold:/etc/']);
      await ok(['cp', 'cold:/etc/cold.txt', join(tmp, 'back.txt')]);
      assert.equal(readFileSync(join(tmp, 'back.txt'), 'utf8'), 'cold');
      const miss = await d.cli(['cp', 'cold:/nope', join(tmp, 'x')]);
      assert.notEqual(miss.code, 0);
      assert.equal(merged().length, before, 'the rootfs mounted for cp was unmounted, also after an error');
      // The file is really in the container's writable layer.
      await ok(['start', 'cold']);
      await ok(['wait', 'cold']);
      await ok(['cp', 'cold:/etc/cold.txt', join(tmp, 'again.txt')]);
      assert.equal(readFileSync(join(tmp, 'again.txt'), 'utf8'), 'cold');
    });

    test('-a keeps the host owner; without it files belong to root', async () => {
      const f = join(tmp, 'owned');
      writeFileSync(f, 'o');
      chownSync(f, 1234, 5678);
      await ok(['cp', '-a', f, 'live:/tmp/owned-a']);
      await ok(['cp', f, 'live:/tmp/owned-root']);
      const owners = async (p: string) => (await sh(`${conga()} cp live:${p} - | tar --numeric-owner -tvf -`)).stdout.split(/\s+/)[1];
      assert.equal(await owners('/tmp/owned-a'), '1234/5678');
      assert.equal(await owners('/tmp/owned-root'), '0/0');
    });

    test('"-" streams a tar on stdout and reads one from stdin', async () => {
      const list = await sh(`${conga()} cp live:/etc - | tar -tf -`);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^etc\/passwd$/m);
      const dir = join(tmp, 'stdin');
      mkdirSync(dir);
      writeFileSync(join(dir, 'piped'), 'through stdin');
      const put = await sh(`tar -cf - -C ${dir} piped | ${conga()} cp - live:/tmp`);
      assert.equal(put.code, 0, put.stderr);
      assert.equal(await catIn('live', '/tmp/piped'), 'through stdin');
    });

    test('a missing path is a 404 with docker\'s message', async () => {
      const r = await d.api('GET', '/containers/live/archive?path=/does/not/exist');
      assert.equal(r.status, 404);
      assert.equal(r.body.message, 'Could not find the file /does/not/exist in container live');
      const head = await d.api('HEAD', '/containers/live/archive?path=/does/not/exist');
      assert.equal(head.status, 404);
      const cli = await d.cli(['cp', 'live:/does/not/exist', join(tmp, 'nothing')]);
      assert.notEqual(cli.code, 0);
      assert.match(cli.stderr, /Could not find the file \/does\/not\/exist in container live/);
      const put = await d.cli(['cp', join(tmp, 'owned'), 'live:/no/such/dir/f']);
      assert.notEqual(put.code, 0);
      assert.match(put.stderr, /Could not find the file/);
    });

    test('paths through symlinks resolve inside the container, -L follows the source link', async () => {
      await ok(['exec', 'live', 'sh', '-c', 'mkdir -p /data && echo in-container > /data/f && ln -s /data /tmp/dl && ln -s /data/f /tmp/fl && ln -s / /tmp/rootl']);
      await ok(['cp', 'live:/tmp/dl/f', join(tmp, 'via-dir-link')]);
      assert.equal(readFileSync(join(tmp, 'via-dir-link'), 'utf8'), 'in-container\n');
      // An absolute link to "/" means the container's root, never the host's.
      const host = await d.cli(['cp', `live:/tmp/rootl${join(tmp, 'via-dir-link')}`, join(tmp, 'escaped')]);
      assert.notEqual(host.code, 0);
      assert.match(host.stderr, /Could not find the file/);
      await ok(['cp', '-L', 'live:/tmp/fl', join(tmp, 'followed')]);
      assert.equal(readFileSync(join(tmp, 'followed'), 'utf8'), 'in-container\n');
      const stat = await d.api('HEAD', '/containers/live/archive?path=/tmp/fl');
      assert.equal(stat.status, 200);
    });

    test('export: the whole rootfs as a tar', async () => {
      const file = join(tmp, 'live.tar');
      await ok(['export', '-o', file, 'live']);
      const list = await runCommand('tar', ['-tf', file]);
      assert.match(list.stdout, /^bin\/busybox$/m);
      assert.match(list.stdout, /^tmp\/in\/sub\/b\.txt$/m);
      assert.doesNotMatch(list.stdout, /^proc\/\d/m, 'no /proc of the running container');
    });

    test('diff shows added, changed and deleted paths', async () => {
      await ok(['run', '--name', 'changer', ref, 'sh', '-c', 'echo new > /added && echo more >> /etc/passwd && rm /etc/group']);
      const out = await ok(['diff', 'changer']);
      assert.match(out, /^A \/added$/m);
      assert.match(out, /^C \/etc$/m);
      assert.match(out, /^C \/etc\/passwd$/m);
      assert.match(out, /^D \/etc\/group$/m);
      const api = await d.api('GET', '/containers/changer/changes');
      assert.deepEqual(api.body.find((c: { Path: string }) => c.Path === '/etc/group'), { Path: '/etc/group', Kind: 2 });
      await ok(['rm', 'changer']);
    });
  });
}
