import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Queue, QueueEvents } from 'bullmq';
import { startRegistry, type TestRegistry } from '../../../test/harness/registry';
import { buildBusyboxImage, pushImage, type BuiltImage } from '../../../test/harness/busybox-image';
import { REPO, startDaemon, type Daemon } from '../../../test/harness/daemon';
import { PULL_QUEUE } from './pull-job';
import { redisOptions } from './redis-options';
import { startCountingProxy, startQueueWorker, startRedis, waitExit, type CountingProxy, type TestRedis } from './split-harness';

/**
 * Split mode's pull queue end to end: a real redis-server on a private unix socket, the four
 * services and congad as separate processes (plus two more image-service workers), a real
 * registry behind a counting proxy, pulls through the bundled `conga` CLI.
 */

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Every blob in the content store, with its content checked against its name. */
function storedBlobs(root: string): Set<string> {
  const dir = join(root, 'image', 'blobs', 'sha256');
  const out = new Set<string>();
  for (const hex of readdirSync(dir)) {
    const actual = createHash('sha256').update(readFileSync(join(dir, hex))).digest('hex');
    assert.equal(actual, hex, `blob ${hex} is corrupt`);
    out.add(`sha256:${hex}`);
  }
  return out;
}

const blobsOf = (img: BuiltImage) => [img.manifestDigest, img.configDigest, ...img.layers.map((l) => l.digest)];

describe('pull queue (split mode, real Redis)', () => {
  let tmp: string;
  let redis: TestRedis;
  let reg: TestRegistry;
  let proxy: CountingProxy;
  let d: Daemon;
  let queue: Queue;
  let events: QueueEvents;
  let stalled = 0;
  const workers: ChildProcess[] = [];
  const images = new Map<string, BuiltImage>();

  before(async () => {
    tmp = mkdtempSync('/tmp/cgq-');
    redis = await startRedis(tmp);
    reg = await startRegistry();
    // ~1 MB/s per blob download: a pull of a 600 KB layer lasts long enough to kill its worker.
    proxy = await startCountingProxy(reg.host, 1 << 20);
    // 7 distinct images: the shared busybox layer plus one incompressible layer of their own.
    for (let i = 0; i < 7; i++) {
      const img = await buildBusyboxImage({ labels: { n: String(i) }, extraLayers: [{ '/data': randomBytes(600 * 1024) }] });
      await pushImage(reg.host, `q${i}`, 'latest', img);
      images.set(`q${i}`, img);
    }
    d = await startDaemon({ mode: 'split', config: { redis: redis.socket, 'insecure-registries': [proxy.host] } });
    const config = join(dirname(d.root), 'daemon.json');
    for (let i = 0; i < 2; i++) {
      workers.push(await startQueueWorker(REPO, d, config, join(tmp, `worker${i}.log`), ['--workers', '2', '--lock-duration', '2000']));
    }
    queue = new Queue(PULL_QUEUE, { connection: redisOptions(redis.socket) });
    events = new QueueEvents(PULL_QUEUE, { connection: redisOptions(redis.socket) });
    // The Redis test stops redis-server: these clients reconnect quietly.
    queue.on('error', () => undefined);
    events.on('error', () => undefined);
    events.on('stalled', () => stalled++);
    await events.waitUntilReady();
    await until('three image-service workers on the queue', async () => (await queue.getWorkers()).length >= 3);
  });

  after(async () => {
    await events?.close();
    await queue?.close();
    for (const w of workers) {
      w.kill('SIGKILL');
      await waitExit(w);
    }
    await d?.stop();
    await proxy?.close();
    await reg?.stop();
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('10 concurrent pulls, one worker SIGKILLed mid-pull: all complete, each blob fetched once, no orphans', async () => {
    // 10 pulls of 7 images: q0, q1 and q2 are asked for twice, q3 once more with its full name.
    const refs = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q0', 'q1', 'q2'].map((r) => `${proxy.host}/${r}:latest`);
    refs[9] = `${proxy.host}/q3`;
    const pulls = refs.map((r) => d.cli(['pull', r], { timeoutMs: 180_000 }));

    // Kill an extra worker while it runs a pull.
    const pids = new Set(workers.map((w) => w.pid));
    let victim: ChildProcess | undefined;
    await until('an extra worker running a pull', async () => {
      for (const job of await queue.getActive()) {
        const pid = Number(/:(\d+)$/.exec(job.processedBy ?? '')?.[1]);
        if (pids.has(pid)) {
          victim = workers.find((w) => w.pid === pid);
          return true;
        }
      }
      return false;
    });
    victim!.kill('SIGKILL');
    await waitExit(victim!);

    const results = await Promise.all(pulls);
    // The killed worker's job was taken over by another worker (bullmq's stalled-job check).
    assert.ok(stalled >= 1, 'no job was taken over from the killed worker');
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `pull ${refs[i]} failed: ${r.stderr}${r.stdout}`);
      assert.match(r.stdout, /Digest: sha256:[a-f0-9]{64}/);
      assert.match(r.stdout, /Status: (Downloaded newer image|Image is up to date) for /);
    });

    // Every image is there, once.
    const list = await d.api('GET', '/images/json');
    assert.equal(list.status, 200);
    const ids = new Set((list.body as Array<{ Id: string }>).map((i) => i.Id));
    for (const img of images.values()) assert.ok(ids.has(img.configDigest), `image ${img.configDigest} missing`);

    // Each distinct blob was fetched to the end exactly once (the shared busybox layer too,
    // across three processes); only the killed worker's downloads were cut off.
    const wanted = new Set([...images.values()].flatMap((img) => [img.configDigest, ...img.layers.map((l) => l.digest)]));
    for (const dg of wanted) {
      const c = proxy.blobs.get(dg);
      assert.ok(c, `blob ${dg} never fetched`);
      assert.equal(c.completed, 1, `blob ${dg} fetched ${c.completed} times to the end (${JSON.stringify(c)})`);
    }
    const aborted = [...proxy.blobs.values()].reduce((a, c) => a + c.aborted, 0);
    assert.ok(aborted <= 4, `${aborted} downloads cut off; only the killed worker's (at most 2 pulls) may be`);

    // No orphan blobs: the content store holds exactly the images' blobs, all intact.
    const expected = new Set([...images.values()].flatMap(blobsOf));
    assert.deepEqual([...storedBlobs(d.root)].sort(), [...expected].sort());
    // The queue is empty again.
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    assert.deepEqual(counts, { waiting: 0, active: 0, delayed: 0, failed: 0 });
    // /info lists the services with their health and the queue with its depth and workers.
    const info = await d.api('GET', '/info');
    assert.equal(info.status, 200);
    assert.deepEqual(info.body.Conga.Services.map((s: { Health: string }) => s.Health), ['SERVING', 'SERVING', 'SERVING', 'SERVING']);
    assert.equal(info.body.Conga.PullQueue.Healthy, true);
    assert.equal(info.body.Conga.PullQueue.Waiting, 0);
    assert.equal(info.body.Conga.PullQueue.Workers, 2, 'two workers left after the kill');
  });

  test('Redis stopped during pulls: a clear error, nothing corrupt; pulls work again once it is back', async () => {
    const img = await buildBusyboxImage({ labels: { n: 'redis-down' }, extraLayers: [{ '/data': randomBytes(2 << 20) }] });
    await pushImage(reg.host, 'rd', 'latest', img);
    const pull = d.cli(['pull', `${proxy.host}/rd:latest`], { timeoutMs: 120_000 });
    await until('the pull to start', async () => (await queue.getActive()).length > 0);
    await redis.stop();
    const r = await pull;
    assert.notEqual(r.code, 0, 'the pull must fail while Redis is down');
    assert.match(r.stderr + r.stdout, /pull queue on Redis .* is unavailable/);

    // While Redis is down a new pull fails at once with the same clear error.
    const again = await d.cli(['pull', `${proxy.host}/q4:latest`]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /pull queue on Redis .* is unavailable/);

    // Redis returns (empty: no persistence); nothing is restarted.
    await redis.start();
    await until('the workers to reconnect', async () => (await queue.getWorkers().catch(() => [])).length >= 2);
    const ok = await d.cli(['pull', `${proxy.host}/rd:latest`], { timeoutMs: 120_000 });
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    const inspect = await d.api('GET', `/images/${encodeURIComponent(`${proxy.host}/rd:latest`)}/json`);
    assert.equal(inspect.status, 200);
    assert.equal(inspect.body.Id, img.configDigest);
    // Every stored blob is intact and belongs to an image.
    const expected = new Set([...[...images.values()].flatMap(blobsOf), ...blobsOf(img)]);
    for (const b of storedBlobs(d.root)) assert.ok(expected.has(b), `orphan blob ${b}`);
  });
});
