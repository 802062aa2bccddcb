import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, serviceNames } from '@conga/common';
import { checkHealth, serviceEndpoint } from '@conga/rpc';
import { makeTestPki, type TestPki } from '../../libs/rpc/src/test-certs';
import { freePort, startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/**
 * Split mode over TCP with mutual TLS (certificates made by openssl here), the refusal of
 * insecure setups at start, and congad's merged Prometheus metrics.
 */

/** Prometheus text → value of the first series whose name and labels match. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('split mode over TCP with mutual TLS', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;
  let pki: TestPki;
  let certDir: string;
  let addresses: Record<string, string>;

  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'conga-pki-'));
    pki = makeTestPki(certDir);
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    addresses = {};
    for (const s of serviceNames) addresses[s] = `tcp://127.0.0.1:${await freePort()}`;
    d = await startDaemon({ mode: 'split', config: { 'service-addresses': addresses, 'service-tls': pki.server } });
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  test('congad and the four services talk TCP+mTLS; clients without the CA\'s certificate are refused', async () => {
    const info = await d.api('GET', '/info');
    for (const s of info.body.Conga.Services) {
      assert.equal(s.Address, addresses[s.Name.replace(/-service$/, '')]);
      assert.equal(s.Health, 'SERVING', JSON.stringify(s));
    }
    const run = await d.cli(['run', '--rm', ref, 'echo', 'over tls']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'over tls\n');

    const ep = (tls?: TestPki['client']) =>
      serviceEndpoint('executor', d, parseConfig({ 'service-addresses': addresses, ...(tls ? { 'service-tls': tls } : { 'service-plaintext-tcp': true }) }));
    assert.equal(await checkHealth('executor', ep(pki.client), 5000), 'SERVING');
    assert.equal(await checkHealth('executor', ep(), 5000), 'UNREACHABLE', 'plaintext client');
    assert.equal(await checkHealth('executor', ep({ ...pki.foreign, ca: pki.client.ca }), 5000), 'UNREACHABLE', 'certificate of another CA');
  });

  test('GET /metrics merges congad and every service; values move', async () => {
    const scrape = async () => {
      const r = await d.api('GET', '/metrics');
      assert.equal(r.status, 200);
      assert.equal(typeof r.body, 'string');
      return r.body as string;
    };
    const before = await scrape();
    for (const s of serviceNames) assert.equal(sample(before, 'conga_service_up', { service: s }), 1, s);
    for (const p of ['congad', 'image-service', 'storage-service', 'network-service', 'executor-service']) {
      assert.ok(sample(before, 'conga_process_resident_memory_bytes', { process: p })! > 0, `RSS of ${p}`);
    }
    const pulls0 = sample(before, 'conga_image_pulls_total', { process: 'image-service', result: 'ok' }) ?? 0;
    const bytes0 = sample(before, 'conga_image_pull_bytes_total', { process: 'image-service' }) ?? 0;
    const creates0 = sample(before, 'conga_rpc_client_duration_seconds_count', { process: 'congad', service: 'executor', method: 'createTask', code: 'OK' }) ?? 0;
    const served0 = sample(before, 'conga_rpc_server_duration_seconds_count', { process: 'executor-service', service: 'executor', method: 'createTask', code: 'OK' }) ?? 0;
    const psReq0 = sample(before, 'conga_api_requests_total', { process: 'congad', method: 'GET', route: '/containers/json', status: '200' }) ?? 0;

    await d.cli(['rmi', '-f', ref]);
    const pull = await d.cli(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    const r = await d.cli(['run', '-d', '--name', 'metered', ref, 'sleep', '300']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await d.cli(['ps'])).code, 0);

    const after = await scrape();
    assert.equal(sample(after, 'conga_image_pulls_total', { process: 'image-service', result: 'ok' }), pulls0 + 1);
    assert.ok(sample(after, 'conga_image_pull_bytes_total', { process: 'image-service' })! > bytes0, 'pull bytes grow');
    assert.equal(sample(after, 'conga_rpc_client_duration_seconds_count', { process: 'congad', service: 'executor', method: 'createTask', code: 'OK' }), creates0 + 1);
    assert.equal(sample(after, 'conga_rpc_server_duration_seconds_count', { process: 'executor-service', service: 'executor', method: 'createTask', code: 'OK' }), served0 + 1);
    assert.ok(sample(after, 'conga_api_requests_total', { process: 'congad', method: 'GET', route: '/containers/json', status: '200' })! >= psReq0 + 1);
    assert.equal(sample(after, 'conga_containers', { state: 'running' }), 1);
    assert.equal(after.match(/^# TYPE conga_rpc_server_duration_seconds histogram$/gm)?.length, 1, 'one header per family');
    assert.equal((await d.cli(['rm', '-f', 'metered'])).code, 0);
  });
});

describe('split mode refuses insecure or broken service setups at start', () => {
  const refused = async (config: Record<string, unknown>, message: RegExp) => {
    await assert.rejects(startDaemon({ mode: 'split', config }), (e) => {
      assert.match((e as Error).message, message);
      return true;
    });
  };

  test('TCP without TLS, plaintext off loopback, unreadable certificates', async () => {
    await refused({ 'service-addresses': { storage: 'tcp://127.0.0.1:1' } }, /"service-addresses"."storage" = "tcp:\/\/127.0.0.1:1": TCP needs mutual TLS: set "service-tls"/);
    await refused(
      { 'service-addresses': { storage: 'tcp://192.0.2.1:7000' }, 'service-plaintext-tcp': true },
      /plaintext TCP is only allowed on a loopback address/,
    );
    await refused(
      { 'service-addresses': { storage: 'tcp://127.0.0.1:7000' }, 'service-tls': { ca: '/nonexistent/ca.pem', cert: '/nonexistent/c.pem', key: '/nonexistent/k.pem' } },
      /"service-tls" ca \/nonexistent\/ca.pem cannot be read: ENOENT/,
    );
  });
});
