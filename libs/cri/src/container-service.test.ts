import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E, newContext, parseConfig, silentLogger } from '@conga/common';
import { Engine } from '@conga/engine';
import { startRegistry, type TestRegistry } from '../../../test/harness/registry';
import { buildBusyboxImage, pushImage } from '../../../test/harness/busybox-image';
import { cleanupState } from '../../../test/harness/daemon';
import { ContainerService } from './container-service';
import type { PodRecord } from './pod-store';

/**
 * ContainerService on an in-process engine with a pod whose namespaces the test pins itself
 * (unshare --net=FILE --ipc=FILE --uts=FILE), so the engine side (PodBinding) is checked
 * without the sandboxer: namespaces joined, /etc files, log path, ExecSync, stop/remove.
 */

const ctx = newContext(silentLogger());
const cgroupParent = `conga-cri-test-${randomBytes(3).toString('hex')}`;

describe('CRI container service (in-process engine, pinned namespaces)', () => {
  let reg: TestRegistry;
  let base: string;
  let engine: Engine;
  let svc: ContainerService;
  let ref: string;
  let pod: PodRecord;
  const pinned: string[] = [];

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'cri/busybox', 'latest', await buildBusyboxImage())).reference;
    base = mkdtempSync('/tmp/cgc-');
    const config = parseConfig({ bridge: `cgc${randomBytes(3).toString('hex')}`, 'fixed-cidr': `10.${200 + randomInt(50)}.${randomInt(256)}.0/24` });
    engine = await Engine.open({ mode: 'all-in-one', paths: { root: join(base, 'r'), run: join(base, 's') }, config, log: silentLogger() });
    await engine.services.image.pullImage({ reference: ref }, ctx);
    const nsDir = join(base, 'ns');
    mkdirSync(nsDir);
    for (const k of ['net', 'ipc', 'uts']) {
      writeFileSync(join(nsDir, k), '');
      pinned.push(join(nsDir, k));
    }
    const r = spawnSync('unshare', [`--net=${join(nsDir, 'net')}`, `--ipc=${join(nsDir, 'ipc')}`, `--uts=${join(nsDir, 'uts')}`, 'true']);
    assert.equal(r.status, 0, String(r.stderr));
    pod = {
      id: 'a'.repeat(64), name: 'web', uid: 'u1', namespace: 'default', attempt: 0, state: 'ready', createdAt: Date.now() * 1e6,
      labels: {}, annotations: {}, config: { dnsConfig: { servers: ['10.1.2.3'], searches: [], options: [] } } as unknown as PodRecord['config'],
      runtimeHandler: '', netnsPath: join(nsDir, 'net'), ipcPath: join(nsDir, 'ipc'), utsPath: join(nsDir, 'uts'), pidMode: 'container',
      cgroupParent: `/${cgroupParent}`, shmPath: '', hostname: 'web-0', ip: '', ips: [], logDirectory: join(base, 'logs'),
    };
    svc = new ContainerService({
      engine,
      pods: {
        getPod: (id) => {
          if (!pod.id.startsWith(id) || !id) throw E.CriPodNotFound(id);
          return pod;
        },
        listPods: () => [pod],
      },
    });
  });
  after(async () => {
    try {
      for (const c of engine?.containers.list(true) ?? []) await engine.containers.remove(c.Id, { force: true }, ctx).catch(() => undefined);
      await engine?.close();
    } finally {
      for (const p of pinned) spawnSync('umount', [p], { stdio: 'ignore' });
      if (base) {
        cleanupState(join(base, 'r'), join(base, 's'));
        rmSync(base, { recursive: true, force: true });
      }
      // The pod cgroup parent in every hierarchy (the sandboxer's job in congad).
      for (const h of readdirSync('/sys/fs/cgroup')) {
        try {
          rmdirSync(join('/sys/fs/cgroup', h, cgroupParent));
        } catch {
          /* not in this hierarchy */
        }
      }
      await reg?.stop();
    }
  });

  test('a pod container joins the pinned namespaces and gets the pod hostname, DNS and log path', async () => {
    // kubelet names the image by its id once pulled.
    const imageId = (await engine.services.image.getImage({ reference: ref }, ctx)).id;
    const config = { metadata: { name: 'app', attempt: 0 }, image: { image: imageId }, command: ['sh', '-c', 'echo hello; exec sleep 300'], logPath: 'app/0.log' };
    const { containerId: id } = await svc.createContainer({ podSandboxId: pod.id, config }, ctx);
    await svc.startContainer({ containerId: id }, ctx);
    const pid = engine.containers.get(id).State.Pid;
    const ino = (p: string) => spawnSync('stat', ['-L', '-c', '%i', p], { encoding: 'utf8' }).stdout.trim();
    for (const k of ['net', 'ipc', 'uts']) assert.equal(readlinkSync(`/proc/${pid}/ns/${k}`), `${k}:[${ino(join(base, 'ns', k))}]`, k);
    const run = async (cmd: string[]) => {
      const r = await svc.execSync({ containerId: id, cmd, timeout: 10 }, ctx);
      return { out: r.stdout.toString(), code: r.exitCode };
    };
    assert.deepEqual(await run(['hostname']), { out: 'web-0\n', code: 0 });
    assert.equal((await run(['cat', '/etc/resolv.conf'])).out, 'nameserver 10.1.2.3\n');
    assert.deepEqual(await run(['sh', '-c', 'exit 4']), { out: '', code: 4 });
    const log = join(pod.logDirectory, 'app/0.log');
    for (let i = 0; i < 100 && !(existsSync(log) && readFileSync(log, 'utf8').includes('hello')); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(readFileSync(log, 'utf8'), /^\S+ stdout F hello$/m);
    const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    assert.match(cg, new RegExp(`:memory:/${cgroupParent}/${id}$`, 'm'), 'the pod cgroup parent');
    const st = (await svc.containerStatus({ containerId: id, verbose: false })).status;
    assert.equal(st.state, 'CONTAINER_RUNNING');
    assert.equal(st.logPath, log);
    assert.equal(st.imageId, imageId);
    await svc.stopContainer({ containerId: id, timeout: 0 }, ctx);
    assert.equal((await svc.containerStatus({ containerId: id })).status.state, 'CONTAINER_EXITED');
    await svc.removeContainer({ containerId: id }, ctx);
    await svc.removeContainer({ containerId: id }, ctx);
    await assert.rejects(svc.containerStatus({ containerId: id }), (e: unknown) => E.CriContainerNotFound.is(e));
  });

  test('the orphan reaper leaves what a resource owner claims', async () => {
    engine.containers.addResourceOwner((id) => id === pod.id);
    mkdirSync(join(base, 'pod-files'), { recursive: true });
    await engine.services.network.attach({ containerId: pod.id, network: 'none', filesDir: join(base, 'pod-files') }, ctx);
    await engine.containers.reapOrphans(ctx);
    const { attachments } = await engine.services.network.listAttachments({}, ctx);
    assert.ok(attachments.some((a) => a.containerId === pod.id), 'the claimed attachment survived the reap');
    await engine.services.network.detach({ containerId: pod.id }, ctx);
  });
});
