import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { E, newContext, parseConfig, silentLogger, type DaemonConfig } from '@conga/common';
import type { ImageService } from '@conga/api';
import { checkHealth, fetchMetricsJson, imageProxy, mergeMetrics, metricsRegistry, serveAt, serveMetrics, serviceEndpoint, type Endpoint } from './index';
import { makeTestPki, type TestPki } from './test-certs';

// Transport security and failure handling with a tiny in-memory image service and real
// certificates made by openssl (CA, server, client, and a foreign CA's certificate).
const images: Pick<ImageService, 'listImages'> = {
  async listImages() {
    return { images: [] };
  },
};
const paths = { root: '/var/lib/conga', run: '/run/conga' };
const ctx = () => newContext(silentLogger());

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const cfg = (raw: Record<string, unknown>): Readonly<DaemonConfig> => parseConfig(raw);

test('endpoint: unix by default; bad addresses and insecure TCP are refused with what to change', () => {
  assert.deepEqual(serviceEndpoint('network', paths, cfg({})), {
    svc: 'network',
    display: 'unix:///run/conga/services/network.sock',
    target: 'unix:/run/conga/services/network.sock',
    socketPath: '/run/conga/services/network.sock',
  });
  const refused = (raw: Record<string, unknown>, re: RegExp) =>
    assert.throws(() => serviceEndpoint('image', paths, cfg(raw)), (e) => E.InvalidConfig.is(e) && re.test((e as Error).message));
  refused({ 'service-addresses': { image: 'tcp://127.0.0.1:7001' } }, /"service-addresses"."image".*TCP needs mutual TLS: set "service-tls"/);
  refused({ 'service-addresses': { image: 'tcp://10.1.2.3:7001' }, 'service-plaintext-tcp': true }, /only allowed on a loopback address/);
  refused({ 'service-addresses': { image: 'tcp://127.0.0.1' }, 'service-plaintext-tcp': true }, /tcp:\/\/host:port/);
  refused({ 'service-addresses': { image: 'unix://run/x.sock' } }, /must be absolute/);
  refused({ 'service-addresses': { image: 'tcp://127.0.0.1:7001' }, 'service-tls': { ca: '/nonexistent/ca.pem', cert: '/x', key: '/y' } }, /"service-tls" ca \/nonexistent\/ca.pem cannot be read: ENOENT/);
  // The schema: unknown service names, other schemes and partial TLS settings.
  assert.throws(() => cfg({ 'service-addresses': { imag: 'unix:///x' } }), (e) => E.InvalidConfig.is(e) && /imag/.test((e as Error).message));
  assert.throws(() => cfg({ 'service-addresses': { image: 'http://x:1' } }), (e) => E.InvalidConfig.is(e));
  assert.throws(() => cfg({ 'service-tls': { ca: '/ca.pem' } }), (e) => E.InvalidConfig.is(e) && /cert/.test((e as Error).message));
  // Explicitly allowed plaintext on loopback is accepted.
  const ok = serviceEndpoint('image', paths, cfg({ 'service-addresses': { image: 'tcp://127.0.0.1:7001' }, 'service-plaintext-tcp': true }));
  assert.equal(ok.target, '127.0.0.1:7001');
  assert.equal(ok.tls, undefined);
});

test('mTLS over TCP: a client with a certificate from the CA is served; without one or with a foreign one it is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-tls-'));
  const pki: TestPki = makeTestPki(dir);
  const port = await freePort();
  const addr = { image: `tcp://127.0.0.1:${port}` };
  const serverEp = serviceEndpoint('image', paths, cfg({ 'service-addresses': addr, 'service-tls': pki.server }));
  const server = await serveAt(serverEp, { image: images }, silentLogger());
  const proxies: Array<{ close(): void }> = [];
  t.after(async () => {
    for (const p of proxies) p.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const withTls = (files: TestPki['client']) => serviceEndpoint('image', paths, cfg({ 'service-addresses': addr, 'service-tls': files }));
  const good = imageProxy(withTls(pki.client), { deadlineMs: 5000 });
  proxies.push(good);
  assert.deepEqual(await good.listImages({}, ctx()), { images: [] });
  assert.equal(await checkHealth('image', withTls(pki.client)), 'SERVING');

  // A client certificate signed by another CA (the client itself trusts the right CA): refused.
  const foreign = imageProxy(withTls({ ...pki.foreign, ca: pki.client.ca }), { deadlineMs: 5000 });
  proxies.push(foreign);
  await assert.rejects(foreign.listImages({}, ctx()), (e) => E.ServiceUnavailable.is(e) && /the image service is unavailable/.test((e as Error).message));
  // Plaintext to the TLS port.
  const plain = imageProxy({ ...withTls(pki.client), tls: undefined } as Endpoint, { deadlineMs: 5000 });
  proxies.push(plain);
  await assert.rejects(plain.listImages({}, ctx()), (e) => E.ServiceUnavailable.is(e));
  // TLS trusting the right CA but without a client certificate: the server requires one.
  const noCert = new (grpc.makeGenericClientConstructor({}, 'x'))(`127.0.0.1:${port}`, grpc.credentials.createSsl(readFileSync(pki.server.ca)));
  const st = await new Promise<grpc.ServiceError | null>((resolve) =>
    noCert.makeUnaryRequest('/conga.image.v1.Images/ListImages', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => resolve(err)),
  );
  noCert.close();
  assert.ok(st, 'a TLS client without a certificate must be refused');
  assert.equal(st.code, grpc.status.UNAVAILABLE, st.details);
  assert.equal(await checkHealth('image', withTls(pki.foreign)), 'UNREACHABLE');
});

test('a service that is down fails fast naming it, and the same proxy recovers when it is back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-rc-'));
  const sock = join(dir, 'image.sock');
  const ep = serviceEndpoint('image', { root: dir, run: dir }, cfg({ 'service-addresses': { image: `unix://${sock}` } }));
  const proxy = imageProxy(ep, { deadlineMs: 10_000 });
  let server = await serveAt(ep, { image: images }, silentLogger());
  t.after(async () => {
    proxy.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await proxy.listImages({}, ctx());
  await server.close();
  const t0 = Date.now();
  await assert.rejects(proxy.listImages({}, ctx()), (e) => {
    assert.ok(E.ServiceUnavailable.is(e), String(e));
    assert.match((e as Error).message, new RegExp(`the image service is unavailable: cannot connect to unix://${sock} \\((ENOENT|ECONNREFUSED)\\); is conga-image-service running\\?`));
    return true;
  });
  // Fails well within the 10 s deadline (reconnect back-off is capped at 1 s).
  assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
  server = await serveAt(ep, { image: images }, silentLogger());
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    ok = await proxy.listImages({}, ctx()).then(() => true, () => false);
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(ok, 'the proxy reconnects once the service is back');
});

test('metrics: RPCs are counted per method and code; merged output keeps every process apart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-met-'));
  const sock = join(dir, 'image.sock');
  const server = await serveAt({ target: `unix:${sock}`, socketPath: sock }, { image: images }, silentLogger());
  const proxy = imageProxy(sock);
  const metrics = await serveMetrics(join(dir, 'm.sock'), silentLogger());
  t.after(async () => {
    proxy.close();
    await server.close();
    await metrics.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const count = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const series = 'conga_rpc_server_duration_seconds_count{service="image",method="listImages",code="OK"}';
  const before = count(await metricsRegistry.metrics(), series.replace(/[{}]/g, '\\$&'));
  await proxy.listImages({}, ctx());
  await proxy.listImages({}, ctx());
  const after = await metricsRegistry.metrics();
  assert.equal(count(after, series.replace(/[{}]/g, '\\$&')), before + 2, after);
  assert.match(after, /conga_rpc_client_duration_seconds_count\{service="image",method="listImages",code="OK"\} \d+/);
  const json = await fetchMetricsJson(join(dir, 'm.sock'));
  assert.ok(json && json.some((m) => m.name === 'conga_rpc_server_duration_seconds'));
  const relabel = (p: string) => json!.map((m) => ({ ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, process: p } })) }));
  const merged = await mergeMetrics([relabel('a'), relabel('b')]);
  assert.equal(merged.match(/^# TYPE conga_rpc_server_duration_seconds histogram$/gm)?.length, 1, 'one family header');
  assert.match(merged, /conga_rpc_server_duration_seconds_count\{[^}]*process="a"[^}]*\}/);
  assert.match(merged, /conga_rpc_server_duration_seconds_count\{[^}]*process="b"[^}]*\}/);
});

test('every ordinary call has a deadline: a hung method fails with a timeout naming the service', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-dl-'));
  const sock = join(dir, 'image.sock');
  let pending: (() => void) | undefined;
  const hung: Pick<ImageService, 'listImages'> = {
    listImages: () => new Promise((resolve) => (pending = () => resolve({ images: [] }))),
  };
  const server = await serveAt({ target: `unix:${sock}`, socketPath: sock }, { image: hung }, silentLogger());
  const proxy = imageProxy(sock, { deadlineMs: 300 });
  t.after(async () => {
    pending?.();
    proxy.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await assert.rejects(proxy.listImages({}, ctx()), (e) => E.Timeout.is(e) && /call to the image service timed out/.test((e as Error).message));
});
