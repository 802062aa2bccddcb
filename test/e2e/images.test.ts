import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { htpasswdEntry, startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon, type Mode } from '../harness/daemon';

/**
 * Image commands end to end through the bundled CLI (and the real docker CLI where it helps):
 * login to a registry behind htpasswd, tag, push, history, save/load round trip (docker load of
 * our archive too), import, rmi and prune, in both deployments.
 */
for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`images (${mode})`, () => {
    let reg: TestRegistry;
    let d: Daemon;
    let tmp: string;
    let ref: string;

    before(async () => {
      reg = await startRegistry({ htpasswd: htpasswdEntry('eve', 'pw1') });
      const img = await buildBusyboxImage({ cmd: ['echo', 'hello from e2e'] });
      ref = (await pushImage(reg.host, 'e2e/bb', 'v1', img, { username: 'eve', password: 'pw1' })).reference;
      d = await startDaemon({ mode });
      tmp = await mkdtemp(join(tmpdir(), 'conga-e2e-images-'));
    });
    after(async () => {
      await d?.stop();
      await reg?.stop();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    test('login, pull, tag, push, history', async () => {
      const denied = await d.cli(['pull', ref]);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /conga login/);
      const bad = await d.cli(['login', '-u', 'eve', '-p', 'wrong', reg.host]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /incorrect username or password/);
      const ok = await d.cli(['login', '-u', 'eve', '-p', 'pw1', reg.host]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /Login Succeeded/);
      assert.equal((await d.cli(['pull', ref])).code, 0);
      const tagged = `${reg.host}/e2e/pushed:v2`;
      assert.equal((await d.cli(['tag', ref, tagged])).code, 0);
      const push = await d.cli(['push', tagged]);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stdout, /v2: digest: sha256:[a-f0-9]{64} size: \d+/);
      const hist = await d.cli(['history', tagged]);
      assert.equal(hist.code, 0, hist.stderr);
      assert.match(hist.stdout, /IMAGE\s+CREATED\s+CREATED BY\s+SIZE/);
      assert.match(hist.stdout, /busybox-static/);
      const js = await d.cli(['images', '--format', 'json', '--filter', `reference=${reg.host}/e2e/*`]);
      assert.equal(js.code, 0, js.stderr);
      assert.equal(js.stdout.trim().split('\n').length, 2);
      const out = await d.cli(['logout', reg.host]);
      assert.match(out.stdout, /Removing login credentials/);
    });

    test('save and load round trip (conga and docker CLI), import, rmi, prune', async () => {
      const archive = join(tmp, `bb-${mode}.tar`);
      const save = await d.cli(['save', '-o', archive, ref]);
      assert.equal(save.code, 0, save.stderr);
      const rmi = await d.cli(['rmi', ref]);
      assert.equal(rmi.code, 0, rmi.stderr);
      assert.match(rmi.stdout, /Untagged: /);
      const load = await d.cli(['load', '-i', archive]);
      assert.equal(load.code, 0, load.stderr);
      assert.match(load.stdout, new RegExp(`Loaded image: ${ref.replace(/[.]/g, '\\.')}`));
      const run = await d.cli(['run', '--rm', ref]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /hello from e2e/);
      // The real docker CLI against conga: docker load of our archive.
      if (existsSync('/usr/local/bin/docker')) {
        const env = { ...process.env, DOCKER_HOST: `unix://${d.socket}` };
        assert.equal((await d.cli(['rmi', ref])).code, 0);
        const r = spawnSync('/usr/local/bin/docker', ['load', '-i', archive], { env, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /Loaded image/);
      }
      const rootfs = join(tmp, 'rootfs.tar');
      spawnSync('tar', ['-C', '/usr/share/doc/busybox-static', '-cf', rootfs, '.']);
      const imp = await d.cli(['import', '-c', 'CMD ["/bin/sh"]', rootfs, 'imported:e2e']);
      assert.equal(imp.code, 0, imp.stderr);
      assert.match(imp.stdout, /^sha256:[a-f0-9]{64}$/m);
      assert.equal((await d.cli(['rmi', 'imported:e2e'])).code, 0);
      const prune = await d.cli(['image', 'prune', '-a', '-f']);
      assert.equal(prune.code, 0, prune.stderr);
      assert.match(prune.stdout, /Total reclaimed space/);
      const left = await d.cli(['images', '-q']);
      assert.equal(left.stdout.trim(), '');
      const missing = await d.cli(['load', '-i', join(tmp, 'nope.tar')]);
      assert.notEqual(missing.code, 0);
    });
  });
}
