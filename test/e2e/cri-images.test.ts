import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { htpasswdEntry, startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage, type PushedImage } from '../harness/busybox-image';
import { startDaemon, type Daemon, type Mode } from '../harness/daemon';
import { criClient, type CriClient } from '../harness/cri-client';

/**
 * CRI ImageService end to end on <run>/cri.sock (a grpc-go style :authority, through the relay):
 * pull with credentials from the request (never stored), status/list/remove, ImageFsInfo, and
 * the runtime-wide Version/Status/UpdateRuntimeConfig, in both deployments.
 */
for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`CRI images (${mode})`, () => {
    let open: TestRegistry;
    let locked: TestRegistry;
    let d: Daemon;
    let c: CriClient;
    let pub: PushedImage;
    let priv: PushedImage;

    before(async () => {
      [open, locked] = await Promise.all([startRegistry(), startRegistry({ htpasswd: htpasswdEntry('kube', 's3cret') })]);
      const img = await buildBusyboxImage({ cmd: ['sh'], user: '1234' });
      pub = await pushImage(open.host, 'cri/bb', 'v1', img);
      priv = await pushImage(locked.host, 'cri/private', 'v1', await buildBusyboxImage({ cmd: ['true'], user: 'nobody' }), { username: 'kube', password: 's3cret' });
      d = await startDaemon({ mode });
      const sock = join(d.run, 'cri.sock');
      c = criClient(sock, { authority: sock });
    });
    after(async () => {
      c?.close();
      await d?.stop();
      await Promise.all([open?.stop(), locked?.stop()]);
    });

    test('Version, Status, UpdateRuntimeConfig', async () => {
      const v = await c.runtime.version({ version: 'v1' });
      assert.equal(v.runtimeName, 'conga');
      assert.equal(v.runtimeApiVersion, 'v1');
      const st = await c.runtime.status({ verbose: true });
      const cond = Object.fromEntries(st.status.conditions.map((x: any) => [x.type, x.status]));
      assert.deepEqual(cond, { RuntimeReady: true, NetworkReady: true });
      await c.runtime.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: '10.244.1.0/24' } } });
      assert.match((await c.runtime.status({ verbose: true })).info.config, /10\.244\.1\.0\/24/);
      await assert.rejects(c.runtime.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: 'not a cidr' } } }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
    });

    test('pull, status (verbose), list with a filter, remove; a missing image is an empty status', async () => {
      assert.equal((await c.image.imageStatus({ image: { image: pub.reference } })).image, null);
      const pulled = await c.image.pullImage({ image: { image: pub.reference } });
      assert.equal(pulled.imageRef, pub.configDigest);
      const st = await c.image.imageStatus({ image: { image: pub.reference }, verbose: true });
      assert.equal(st.image.id, pub.configDigest);
      assert.deepEqual(st.image.repoTags, [pub.reference]);
      assert.equal(st.image.uid.value, 1234);
      assert.ok(st.image.size > 0);
      assert.equal(JSON.parse(st.info.info).imageSpec.config.User, '1234');
      // By id and by digest reference too.
      assert.equal((await c.image.imageStatus({ image: { image: pub.configDigest } })).image.id, pub.configDigest);
      assert.equal((await c.image.imageStatus({ image: { image: pub.digestReference } })).image.id, pub.configDigest);
      const listed = await c.image.listImages({ filter: { image: { image: pub.reference } } });
      assert.deepEqual(listed.images.map((i: any) => i.id), [pub.configDigest]);
      assert.ok((await c.image.listImages({})).images.some((i: any) => i.id === pub.configDigest));
      const fs = await c.image.imageFsInfo({});
      assert.ok(fs.imageFilesystems.length >= 1);
      assert.ok(fs.imageFilesystems.some((f: any) => f.usedBytes.value > 0 && f.inodesUsed.value > 0 && f.fsId.mountpoint.startsWith(d.root)));
      await c.image.removeImage({ image: { image: pub.reference } });
      assert.equal((await c.image.imageStatus({ image: { image: pub.reference } })).image, null);
      // Idempotent, like containerd.
      await c.image.removeImage({ image: { image: pub.reference } });
      await assert.rejects(c.image.pullImage({ image: { image: '' } }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
    });

    test('credentials from the request: none or a wrong password is denied and leaves nothing; right ones pull and are not stored', async () => {
      const before = (await c.image.listImages({})).images.length;
      await assert.rejects(c.image.pullImage({ image: { image: priv.reference } }), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
      await assert.rejects(
        c.image.pullImage({ image: { image: priv.reference }, auth: { username: 'kube', password: 'wrong' } }),
        (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /denied/.test(e.details),
      );
      assert.equal((await c.image.listImages({})).images.length, before);
      assert.equal((await c.image.imageStatus({ image: { image: priv.reference } })).image, null);
      // The "auth" form (base64 user:password), as kubelet passes a dockerconfigjson entry.
      const auth = Buffer.from('kube:s3cret').toString('base64');
      const pulled = await c.image.pullImage({ image: { image: priv.reference }, auth: { auth, serverAddress: locked.host } });
      assert.equal(pulled.imageRef, priv.configDigest);
      assert.equal((await c.image.imageStatus({ image: { image: priv.reference } })).image.username, 'nobody');
      // Not remembered: after removing it, a pull without credentials is denied again.
      await c.image.removeImage({ image: { image: priv.reference } });
      await assert.rejects(c.image.pullImage({ image: { image: priv.reference } }), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
      const credFiles = [join(d.root, 'image', 'auth.json'), join(d.root, 'image', 'config.json')].filter(existsSync);
      assert.deepEqual(credFiles, [], `no credential file: ${readdirSync(join(d.root, 'image')).join(', ')}`);
    });
  });
}
