import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { startRegistryProxy, type RegistryProxy } from '../harness/registry-proxy';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/**
 * daemon.json "registry-rate-limits" in split mode: three proxies in front of one real registry
 * — one with a concurrency cap, one with a rate limit, one unlimited (the control that shows
 * the same pull does exceed the cap) — and the proxies' own counts and logs as the evidence.
 */

const RPS = 4;
const BURST = 1;

/** An image whose layers are its own (no blob shared with the other tests' images). */
async function pushDistinct(host: string, name: string, layers: number): Promise<string> {
  const extraLayers = Array.from({ length: layers }, (_, i) => ({ [`/${name}/layer-${i}`]: `${name} ${i}\n`.repeat(1000) }));
  return (await pushImage(host, `rl/${name}`, 'latest', await buildBusyboxImage({ extraLayers }))).reference;
}

describe('split mode: per-registry rate limits and concurrency caps', () => {
  let reg: TestRegistry;
  let capped: RegistryProxy;
  let free: RegistryProxy;
  let rated: RegistryProxy;
  let d: Daemon;

  before(async () => {
    reg = await startRegistry();
    capped = await startRegistryProxy(reg.host, { latencyMs: 300 });
    free = await startRegistryProxy(reg.host, { latencyMs: 300 });
    rated = await startRegistryProxy(reg.host);
    d = await startDaemon({
      mode: 'split',
      config: {
        'max-concurrent-downloads': 6,
        'registry-rate-limits': { [capped.host]: { 'max-concurrent': 2 }, [rated.host]: { 'requests-per-second': RPS, burst: BURST } },
      },
    });
  });
  after(async () => {
    await d?.stop();
    for (const p of [capped, free, rated]) await p?.close();
    await reg?.stop();
  });

  const pull = async (ref: string) => {
    const r = await d.cli(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
  };

  test('max-concurrent 2: at most 2 requests open at once; the same pull without a cap opens more', async () => {
    // Pushed through the registry itself, pulled through the proxies (repository names differ per proxy).
    const capRef = (await pushDistinct(reg.host, 'capped', 6)).replace(reg.host, capped.host);
    const freeRef = (await pushDistinct(reg.host, 'free', 6)).replace(reg.host, free.host);
    await pull(freeRef);
    await pull(capRef);
    const blobGets = (p: RegistryProxy) => p.requests.filter((r) => r.method === 'GET' && r.url.includes('/blobs/')).length;
    assert.ok(blobGets(capped) >= 7 && blobGets(free) >= 7, `every blob fetched: ${blobGets(capped)}, ${blobGets(free)}`);
    assert.ok(capped.peakInFlight <= 2, `capped peak ${capped.peakInFlight}`);
    assert.ok(free.peakInFlight > 2, `uncapped peak ${free.peakInFlight} (the control must exceed the cap)`);
  });

  test(`requests-per-second ${RPS}, burst ${BURST}: the proxy never sees more than the bucket allows per second`, async () => {
    const ref = (await pushDistinct(reg.host, 'rated', 8)).replace(reg.host, rated.host);
    await pull(ref);
    const times = rated.requests.map((r) => r.at).sort((a, b) => a - b);
    const n = times.length;
    assert.ok(n >= 7, `requests seen: ${n}`);
    // In any one-second window: the burst plus one second of refill (+1 for arrival jitter).
    const maxInWindow = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000).length));
    assert.ok(maxInWindow <= BURST + RPS + 1, `${maxInWindow} requests within one second`);
    // And all of them took at least the token time (less a little for arrival jitter).
    const needMs = ((n - BURST) / RPS) * 1000;
    assert.ok(times[n - 1] - times[0] >= needMs - 300, `${n} requests in ${times[n - 1] - times[0]} ms; the bucket needs ${needMs} ms`);
  });
});
