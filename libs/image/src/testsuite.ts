/**
 * Conformance suite for any ImageService (in-process or a gRPC proxy). Registers node:test tests
 * that start a real registry (test/harness) on 127.0.0.1, push busybox images and pull them.
 * Test-only: never import it from production code. Owned by the image service; tests may be added.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E, newContext, type Progress } from '@conga/common';
import type { ImageService } from '@conga/api';
import { startRegistry, freePort, type TestRegistry } from '../../../test/harness/registry';
import { buildBusyboxImage, pushImage, type BuiltImage } from '../../../test/harness/busybox-image';

export interface ConformanceTarget {
  svc: ImageService;
  cleanup(): Promise<void>;
}

function collect(): { events: Progress[]; ctx: ReturnType<typeof newContext> } {
  const events: Progress[] = [];
  return { events, ctx: newContext(undefined, { onProgress: (p) => events.push(p) }) };
}

/** Register the suite under `name`; `make` builds a fresh service per test. */
export function conformance(name: string, make: () => Promise<ConformanceTarget>): void {
  const setup = async (t: { after(fn: () => Promise<void> | void): void }) => {
    const reg: TestRegistry = await startRegistry();
    t.after(() => reg.stop());
    const target = await make();
    t.after(() => target.cleanup());
    return { reg, svc: target.svc };
  };
  const push = async (reg: TestRegistry, repo: string, tag: string, img?: BuiltImage) => {
    const built = img ?? (await buildBusyboxImage({ extraLayers: [{ [`etc/${repo.replace(/\W/g, '_')}`]: repo }] }));
    return { built, pushed: await pushImage(reg.host, repo, tag, built) };
  };

  test(`${name}: pull by tag, progress, get, list, pull again is up to date`, async (t) => {
    const { reg, svc } = await setup(t);
    const { built } = await push(reg, 'conf/busybox', 'v1');
    const ref = `${reg.host}/conf/busybox:v1`;
    const { events, ctx } = collect();
    const img = await svc.pullImage({ reference: ref }, ctx);
    assert.equal(img.id, built.configDigest);
    assert.deepEqual(img.repoTags, [ref]);
    assert.deepEqual(img.repoDigests, [`${reg.host}/conf/busybox@${built.manifestDigest}`]);
    assert.equal(img.manifestDigest, built.manifestDigest);
    assert.deepEqual(img.diffIds, built.diffIds);
    assert.deepEqual(img.chainIds, built.chainIds);
    assert.ok(img.size > 1_000_000, `size ${img.size} should be the unpacked busybox size`);
    assert.equal(img.created, '2024-01-01T00:00:00.000Z');
    assert.deepEqual(img.platform, { os: 'linux', architecture: 'amd64', variant: '' });
    assert.equal(JSON.parse(img.configJson).config.Cmd[0], 'sh');
    const statuses = events.map((e) => e.status);
    assert.equal(statuses[0], 'Pulling from conf/busybox');
    assert.equal(events[0].id, 'v1');
    for (const l of built.layers) {
      const id = l.digest.slice(7, 19);
      const mine = events.filter((e) => e.id === id).map((e) => e.status);
      assert.ok(mine.includes('Pulling fs layer'), `layer ${id}: ${mine}`);
      assert.ok(mine.includes('Download complete'), `layer ${id}: ${mine}`);
      assert.equal(mine[mine.length - 1], 'Pull complete');
    }
    assert.ok(statuses.includes(`Digest: ${built.manifestDigest}`));
    assert.equal(statuses[statuses.length - 1], `Status: Downloaded newer image for ${ref}`);

    const ctx0 = newContext();
    assert.equal((await svc.getImage({ reference: ref }, ctx0)).id, img.id);
    assert.equal((await svc.getImage({ reference: img.id }, ctx0)).id, img.id);
    assert.equal((await svc.getImage({ reference: img.id.slice(7) }, ctx0)).id, img.id);
    assert.equal((await svc.getImage({ reference: img.id.slice(7, 19) }, ctx0)).id, img.id);
    const list = await svc.listImages({}, ctx0);
    assert.deepEqual(list.images.map((i) => i.id), [img.id]);
    assert.equal((await svc.listImages({ references: [`${reg.host}/conf/busybox`] }, ctx0)).images.length, 1);
    assert.equal((await svc.listImages({ references: [`${reg.host}/conf/*`] }, ctx0)).images.length, 1);
    assert.equal((await svc.listImages({ references: [`${reg.host}/conf/busybox:nope`] }, ctx0)).images.length, 0);
    assert.equal((await svc.listImages({ references: ['other'] }, ctx0)).images.length, 0);

    const again = collect();
    const img2 = await svc.pullImage({ reference: ref }, again.ctx);
    assert.equal(img2.id, img.id);
    const st2 = again.events.map((e) => e.status);
    assert.ok(!st2.includes('Downloading') && !st2.includes('Pull complete'), `second pull did work: ${st2}`);
    assert.equal(st2[st2.length - 1], `Status: Image is up to date for ${ref}`);
  });

  test(`${name}: pull by digest`, async (t) => {
    const { reg, svc } = await setup(t);
    const { built, pushed } = await push(reg, 'conf/bydigest', 'x');
    const img = await svc.pullImage({ reference: pushed.digestReference }, newContext());
    assert.equal(img.id, built.configDigest);
    assert.deepEqual(img.repoTags, []);
    assert.deepEqual(img.repoDigests, [pushed.digestReference]);
    assert.equal((await svc.getImage({ reference: pushed.digestReference }, newContext())).id, img.id);
    // A digest that is not the manifest's.
    const wrong = `${reg.host}/conf/bydigest@sha256:${'0'.repeat(64)}`;
    await assert.rejects(svc.pullImage({ reference: wrong }, newContext()), (e) => E.ManifestNotFound.is(e) || E.DigestMismatch.is(e));
  });

  test(`${name}: concurrent identical pulls both succeed with one image`, async (t) => {
    const { reg, svc } = await setup(t);
    const { built } = await push(reg, 'conf/concurrent', 'latest');
    const ref = `${reg.host}/conf/concurrent`;
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => svc.pullImage({ reference: ref }, newContext())));
    assert.equal(a.id, built.configDigest);
    assert.equal(b.id, a.id);
    assert.equal(c.id, a.id);
    assert.deepEqual(a.repoTags, [`${ref}:latest`]);
    assert.equal((await svc.listImages({}, newContext())).images.length, 1);
  });

  test(`${name}: errors: invalid reference, unknown tag, unknown repo, registry down, unknown image`, { timeout: 60_000 }, async (t) => {
    const { reg, svc } = await setup(t);
    await push(reg, 'conf/known', 'v1');
    const ctx = newContext();
    await assert.rejects(svc.pullImage({ reference: 'Not/Valid' }, ctx), (e) => E.InvalidReference.is(e));
    await assert.rejects(svc.pullImage({ reference: '' }, ctx), (e) => E.InvalidReference.is(e));
    await assert.rejects(svc.pullImage({ reference: `${reg.host}/conf/known:v2` }, ctx), (e) => {
      assert.ok(E.ManifestNotFound.is(e), String(e));
      assert.match((e as Error).message, new RegExp(`${reg.host.replace(/\./g, '\\.')}/conf/known:v2`));
      return true;
    });
    await assert.rejects(svc.pullImage({ reference: `${reg.host}/conf/nothere:v1` }, ctx), (e) => E.RepositoryNotFound.is(e) || E.ManifestNotFound.is(e));
    const port = await freePort();
    const started = Date.now();
    await assert.rejects(svc.pullImage({ reference: `127.0.0.1:${port}/x:y` }, ctx), (e) => E.RegistryUnreachable.is(e));
    assert.ok(Date.now() - started < 10_000, 'registry down must fail within 10 s');
    await assert.rejects(svc.getImage({ reference: 'nothing:here' }, ctx), (e) => E.ImageNotFound.is(e));
    await assert.rejects(svc.getImage({ reference: `sha256:${'f'.repeat(64)}` }, ctx), (e) => E.ImageNotFound.is(e));
    await assert.rejects(svc.deleteImage({ reference: 'nothing:here' }, ctx), (e) => E.ImageNotFound.is(e));
    assert.equal((await svc.listImages({}, ctx)).images.length, 0);
  });

  test(`${name}: rmi untags, then deletes; in-use and multi-repo refusals`, async (t) => {
    const { reg, svc } = await setup(t);
    const built = await buildBusyboxImage({ extraLayers: [{ 'etc/rmi': 'rmi' }] });
    await pushImage(reg.host, 'conf/rmi', 'a', built);
    await pushImage(reg.host, 'conf/rmi', 'b', built);
    await pushImage(reg.host, 'conf/other', 'c', built);
    const ctx = newContext();
    const a = `${reg.host}/conf/rmi:a`;
    const b = `${reg.host}/conf/rmi:b`;
    const c = `${reg.host}/conf/other:c`;
    for (const r of [a, b, c]) await svc.pullImage({ reference: r }, ctx);
    const img = await svc.getImage({ reference: a }, ctx);
    assert.deepEqual([...img.repoTags].sort(), [c, a, b].sort());

    // By id with tags in two repositories: refused without force.
    await assert.rejects(svc.deleteImage({ reference: img.id }, ctx), (e) => E.ImageReferencedInMultipleRepos.is(e));
    // Untag one of several tags: nothing deleted.
    const r1 = await svc.deleteImage({ reference: a }, ctx);
    assert.deepEqual(r1, { untagged: [a], deleted: [] });
    await assert.rejects(svc.getImage({ reference: a }, ctx), (e) => E.ImageNotFound.is(e));
    assert.equal((await svc.getImage({ reference: b }, ctx)).id, img.id);
    await svc.deleteImage({ reference: c }, ctx);
    // In use: the last tag cannot go without force.
    await assert.rejects(svc.deleteImage({ reference: b, inUseImageIds: [img.id] }, ctx), (e) => E.ImageInUse.is(e));
    assert.equal((await svc.getImage({ reference: b }, ctx)).id, img.id);
    // Last tag: untag and delete the image (and its layers).
    const r2 = await svc.deleteImage({ reference: b }, ctx);
    assert.ok(r2.untagged.includes(b), JSON.stringify(r2));
    assert.equal(r2.deleted[0], img.id);
    assert.deepEqual(r2.deleted.slice(1), [...img.chainIds].reverse());
    await assert.rejects(svc.getImage({ reference: img.id }, ctx), (e) => E.ImageNotFound.is(e));
    assert.equal((await svc.listImages({}, ctx)).images.length, 0);

    // Pull again after delete works (blobs and layers were removed, so they are fetched again).
    const again = collect();
    const back = await svc.pullImage({ reference: b }, again.ctx);
    assert.equal(back.id, img.id);
    assert.ok(again.events.some((e) => e.status === 'Pull complete'));
    // Delete by id prefix.
    const r3 = await svc.deleteImage({ reference: img.id.slice(7, 19) }, ctx);
    assert.deepEqual(r3.untagged.filter((u) => !u.includes('@')), [b]);
    assert.equal(r3.deleted[0], img.id);
  });
}
