/**
 * Registry faults against the real registry, through the fault proxy: truncated, corrupted,
 * rate-limited, failing, resetting, stalling, silent and trickling registries. Every failure is a
 * clear catalog error naming the registry (and the layer where there is one) and leaves nothing
 * behind: no blob, no staging file, no layer, no image record.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { E, newContext, parseConfig } from '@conga/common';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { startRegistryProxy, type ProxyAction, type RegistryProxy } from '../harness/registry-proxy';
import { buildBusyboxImage, pushImage, type BuiltImage } from '../harness/busybox-image';
import { imageEnv, type TestImageEnv } from '../../libs/image/src/test-env';

let reg: TestRegistry;
let proxy: RegistryProxy;
let img: BuiltImage;
/** The rule of the current test (tests run one after another). */
let rule: ((req: IncomingMessage, n: number) => ProxyAction | undefined) | undefined;
let repoN = 0;

before(async () => {
  reg = await startRegistry();
  img = await buildBusyboxImage({ extraLayers: [{ 'etc/faults': 'x' }] });
  proxy = await startRegistryProxy(reg.host, { rule: (req, n) => rule?.(req, n) });
});
after(async () => {
  await proxy?.close();
  await reg?.stop();
});

/** A fresh repository holding the image (so request counts start at 1) and its reference. */
async function repo(): Promise<string> {
  const name = `faults/r${++repoN}`;
  await pushImage(reg.host, name, 'v1', img);
  return `${proxy.host}/${name}:v1`;
}

const big = () => img.layers[0];
/** The proxy's record of GETs of the big layer in the repository of `ref`. */
const bigGets = (ref: string) => proxy.requests.filter((r) => r.url === `/v2/${ref.slice(proxy.host.length + 1, -3)}/blobs/${big().digest}`);
const isBlob = (req: IncomingMessage, digest: string) => req.method === 'GET' && (req.url ?? '').split('?')[0].endsWith(`/blobs/${digest}`);

async function env(t: TestContext, config: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<TestImageEnv> {
  const e = await imageEnv(config, extra);
  t.after(() => e.cleanup());
  return e;
}

/** Nothing of a failed first pull may remain. */
async function assertNothingLeft(e: TestImageEnv): Promise<void> {
  assert.deepEqual(await e.blobs(), [], 'blobs left behind');
  assert.deepEqual(await e.layers(), [], 'layers left behind');
  const ingest = join(e.root, 'image', 'ingest');
  for (const d of await readdir(ingest)) assert.deepEqual(await readdir(join(ingest, d)), [], `staging files left in ingest/${d}`);
  assert.deepEqual((await e.svc.listImages({}, newContext())).images, [], 'an image record was left');
}

/** Pull `ref` expecting a catalog error of kind `kind` whose message contains every `parts`. */
async function pullFails(e: TestImageEnv, ref: string, kind: { is(x: unknown): boolean }, parts: string[]): Promise<Error> {
  let err: Error | undefined;
  await assert.rejects(e.svc.pullImage({ reference: ref }, newContext()), (x: Error) => ((err = x), true));
  assert.ok(kind.is(err), `unexpected error: ${err?.message}`);
  for (const p of parts) assert.ok(err!.message.includes(p), `"${err!.message}" does not mention ${p}`);
  await assertNothingLeft(e);
  return err!;
}

async function pullWorks(e: TestImageEnv, ref: string): Promise<void> {
  const got = await e.svc.pullImage({ reference: ref }, newContext());
  assert.equal(got.id, img.configDigest);
}

test('a body truncated once resumes with Range and the pull succeeds', async (t) => {
  const ref = await repo();
  const third = Math.floor(big().size / 3);
  rule = (req, n) => (isBlob(req, big().digest) && n === 1 ? { cutAfter: third } : undefined);
  await pullWorks(await env(t), ref);
  const gets = bigGets(ref);
  assert.equal(gets.length, 2);
  const from = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
  assert.ok(from > 0 && from <= third, `resumed from ${gets[1].range}`);
});

test('a body truncated on every attempt fails naming registry and layer; a short clean body is a size/digest error', async (t) => {
  const ref = await repo();
  const e = await env(t);
  rule = (req) => (isBlob(req, big().digest) ? { cutAfter: 1000 } : undefined);
  await pullFails(e, ref, E.RegistryUnreachable, [proxy.host, big().digest]);
  rule = (req) => (isBlob(req, big().digest) ? { shortBody: 1000 } : undefined);
  await pullFails(e, ref, E.DigestMismatch, [big().digest, `1000 bytes, expected ${big().size}`]);
  rule = undefined;
  await pullWorks(e, ref);
});

test('a flipped byte fails with the expected and the actual digest', async (t) => {
  const ref = await repo();
  const at = 4321;
  const bad = Buffer.from(big().blob);
  bad[at] ^= 0xff;
  const actual = `sha256:${createHash('sha256').update(bad).digest('hex')}`;
  rule = (req) => (isBlob(req, big().digest) ? { flipByte: at } : undefined);
  await pullFails(await env(t), ref, E.DigestMismatch, [`expected ${big().digest}`, `got ${actual}`]);
});

test('a 429 storm with Retry-After that ends is ridden out; one that never ends is a clear rate-limit error', async (t) => {
  const ref = await repo();
  const e = await env(t);
  rule = (req, n) => (isBlob(req, big().digest) && n <= 3 ? { respond: 429, headers: { 'Retry-After': '1' } } : undefined);
  await pullWorks(e, ref);
  const ref2 = await repo();
  const e2 = await env(t);
  rule = (req) => (isBlob(req, big().digest) ? { respond: 429, headers: { 'Retry-After': '1' } } : undefined);
  const err = await pullFails(e2, ref2, E.RegistryRateLimited, [proxy.host, '429']);
  assert.match(err.message, /wait and retry/);
});

test('500s are retried until they stop; endless 500s fail naming the status and the registry', async (t) => {
  const ref = await repo();
  const e = await env(t);
  rule = (req, n) => (isBlob(req, big().digest) && n <= 2 ? { respond: 500 } : undefined);
  await pullWorks(e, ref);
  const ref2 = await repo();
  const e2 = await env(t);
  rule = (req) => (isBlob(req, big().digest) ? { respond: 500, body: 'boom' } : undefined);
  await pullFails(e2, ref2, E.RegistryError, [proxy.host, 'HTTP 500', big().digest]);
  // 1 attempt + 4 retries of the default policy.
  assert.equal(bigGets(ref2).length, 5);
});

test('a connection reset mid-layer resumes; resets on every attempt fail cleanly', async (t) => {
  const ref = await repo();
  const e = await env(t);
  const half = Math.floor(big().size / 2);
  rule = (req, n) => (isBlob(req, big().digest) && n === 1 ? { resetAfter: half } : undefined);
  await pullWorks(e, ref);
  // Resumed from what reached the disk (a reset may discard bytes still in the socket buffer).
  const gets = bigGets(ref);
  assert.equal(gets.length, 2);
  assert.ok(gets[1].range === undefined || Number(/^bytes=(\d+)-$/.exec(gets[1].range)?.[1]) <= half, gets[1].range);
  const ref2 = await repo();
  const e2 = await env(t);
  rule = (req) => (isBlob(req, big().digest) ? { resetAfter: 5000 } : undefined);
  await pullFails(e2, ref2, E.RegistryUnreachable, [proxy.host, big().digest]);
});

test('a registry that stalls mid-body is aborted by pull-no-progress-timeout, naming registry and layer', async (t) => {
  const ref = await repo();
  const e = await env(t, { 'pull-no-progress-timeout': 1 });
  rule = (req) => (isBlob(req, big().digest) ? { stallAfter: 2000 } : undefined);
  const err = await pullFails(e, ref, E.PullStalled, [proxy.host, big().digest, 'pull-no-progress-timeout']);
  assert.match(err.message, /received nothing for/);
  // Final, not resumed: one request for the layer.
  assert.equal(bigGets(ref).length, 1);
});

test('layers unpack as they download: mid-layer, its first files are already unpacked; a stall then leaves nothing', async (t) => {
  const ref = await repo();
  const e = await env(t, { 'pull-no-progress-timeout': 20 });
  rule = (req) => (isBlob(req, big().digest) ? { stallAfter: Math.floor(big().size / 2) } : undefined);
  const pulling = e.svc.pullImage({ reference: ref }, newContext()).then(() => undefined, (x: Error) => x);
  const layersDir = join(e.root, 'storage', 'layers');
  const staging = async () => (await readdir(layersDir).catch(() => [] as string[])).filter((n) => n.startsWith('.tmp-'));
  const unpackedSoFar = async () => {
    for (const n of await staging()) if ((await readdir(join(layersDir, n)).catch(() => [])).length > 0) return true;
    return false;
  };
  // Half of the layer has arrived and the rest never will: only unpacking as it streams can
  // have put files in the layer's staging directory by now.
  for (const end = Date.now() + 15_000; !(await unpackedSoFar());) {
    assert.ok(Date.now() < end, 'nothing of the half-downloaded layer was unpacked');
    await new Promise((r) => setTimeout(r, 50));
  }
  const err = await pulling;
  assert.ok(E.PullStalled.is(err), `unexpected outcome: ${err?.message}`);
  await assertNothingLeft(e);
  assert.deepEqual(await staging(), [], 'staging directories left behind');
});

test('a registry that never answers: request timeout, retried, then a clear error', async (t) => {
  const ref = await repo();
  const e = await env(t, {}, { headerTimeoutMs: 300 });
  rule = (req) => (isBlob(req, big().digest) ? { hang: true } : undefined);
  const err = await pullFails(e, ref, E.RegistryUnreachable, [proxy.host]);
  assert.match(err.message, /no answer from .* within 0\.3 s/);
  assert.equal(bigGets(ref).length, 5, 'retried 4 times');
});

test('a trickle is aborted by pull-min-bytes-per-second over pull-throughput-window', async (t) => {
  const ref = await repo();
  const e = await env(t, { 'pull-min-bytes-per-second': 20_000, 'pull-throughput-window': 1 });
  rule = (req) => (isBlob(req, big().digest) ? { trickle: { bytes: 500, everyMs: 50 } } : undefined);
  const err = await pullFails(e, ref, E.PullStalled, [proxy.host, big().digest, 'pull-min-bytes-per-second 20000']);
  assert.match(err.message, /ran at \d+ bytes\/s over the last 1 s/);
  // Afterwards (rules off) the same service pulls normally.
  rule = undefined;
  await pullWorks(e, ref);
});

test('the pull-* daemon.json keys are validated', () => {
  assert.equal(parseConfig({})['pull-no-progress-timeout'], 30);
  assert.equal(parseConfig({})['pull-min-bytes-per-second'], 1024);
  assert.equal(parseConfig({})['pull-throughput-window'], 60);
  for (const bad of [{ 'pull-no-progress-timeout': 0 }, { 'pull-min-bytes-per-second': -1 }, { 'pull-min-bytes-per-second': 1.5 }, { 'pull-throughput-window': 'x' }]) {
    assert.throws(() => parseConfig(bad), (x: Error) => E.InvalidConfig.is(x) && x.message.includes(Object.keys(bad)[0]), JSON.stringify(bad));
  }
});
