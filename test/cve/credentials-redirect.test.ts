import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { startRegistryProxy, type RegistryProxy } from '../harness/registry-proxy';
import { buildBusyboxImage, pushImage, MEDIA_MANIFEST_V2, type BuiltImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/**
 * CVE-2020-15157 (containerd sent registry credentials to the host named in a redirect or a
 * foreign-layer URL): end to end through congad. The registry (harness token auth in front of
 * the real registry; `conga login` first) redirects every blob GET to a server the test runs on
 * 127.0.0.2 — another host. That server serves the blobs and records headers: it must never see
 * an Authorization header, while the registry itself does get the token. A manifest whose layer
 * carries foreign `urls` pointing at 127.0.0.2 must not make congad send credentials there either.
 */

const FOREIGN_LAYER = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A plain blob server on 127.0.0.2: the blobs of `img` by digest; records every request's headers. */
async function startOtherHost(imgs: BuiltImage[]): Promise<{ host: string; seen: Array<{ url: string; headers: IncomingHttpHeaders }>; close(): Promise<void> }> {
  const blobs = new Map<string, Buffer>(imgs.flatMap((img) => [[img.configDigest, img.config], ...img.layers.map((l): [string, Buffer] => [l.digest, l.blob])]));
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    const digest = /(sha256:[0-9a-f]{64})/.exec(req.url ?? '')?.[1];
    const blob = digest && blobs.get(digest);
    if (!blob) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.length }).end(blob);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.2', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.2:${port}`,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('CVE-2020-15157: credentials are never sent to another host', () => {
  let reg: TestRegistry;
  let img: BuiltImage;
  let fimg: BuiltImage;
  let other: Awaited<ReturnType<typeof startOtherHost>>;
  let front: RegistryProxy;
  let d: Daemon;
  let foreignManifest: Buffer;

  before(async () => {
    reg = await startRegistry();
    img = await buildBusyboxImage({ extraLayers: [{ 'etc/cve-2020-15157': 'x\n' }] });
    fimg = await buildBusyboxImage({ extraLayers: [{ 'etc/foreign-layer': 'y\n' }] });
    await pushImage(reg.host, 'priv/bb', 'v1', img);
    await pushImage(reg.host, 'priv/fx', 'v1', fimg);
    other = await startOtherHost([img, fimg]);
    // Another image with its top layer marked foreign, its URL on the other host.
    const m = JSON.parse(fimg.manifest.toString());
    const top = m.layers[m.layers.length - 1];
    m.layers[m.layers.length - 1] = { ...top, mediaType: FOREIGN_LAYER, urls: [`http://${other.host}/foreign/${top.digest}`] };
    foreignManifest = Buffer.from(JSON.stringify(m));
    front = await startRegistryProxy(reg.host, {
      bearer: { username: 'bob', password: 'pw' },
      rule: (req) => {
        const url = req.url ?? '';
        if (req.method === 'GET' && /^\/v2\/priv\/(bb|fx)\/blobs\/sha256:/.test(url)) return { redirect: `http://${other.host}/cdn${url}` };
        if (url === '/v2/priv/fx/manifests/foreign') {
          const headers = { 'Content-Type': MEDIA_MANIFEST_V2, 'Docker-Content-Digest': sha256(foreignManifest) };
          return { respond: 200, headers, body: req.method === 'HEAD' ? '' : foreignManifest.toString() };
        }
        return undefined;
      },
    });
    d = await startDaemon({ config: { 'insecure-registries': ['127.0.0.2'] } });
    const login = await d.cli(['login', '-u', 'bob', '-p', 'pw', front.host]);
    assert.equal(login.code, 0, login.stderr);
  });

  after(async () => {
    await d?.stop();
    await front?.close();
    await other?.close();
    await reg?.stop();
  });

  test('blob redirects to another host carry no Authorization', async () => {
    const pull = await d.cli(['pull', `${front.host}/priv/bb:v1`]);
    assert.equal(pull.code, 0, pull.stderr);
    const blobGets = other.seen.filter((s) => s.url.startsWith('/cdn/'));
    assert.ok(blobGets.length >= img.layers.length, `every blob came through the redirect (${blobGets.length} requests)`);
    for (const s of other.seen) assert.equal(s.headers.authorization, undefined, `credentials were sent to ${other.host}${s.url}`);
    assert.ok(
      front.requests.some((r) => r.url.startsWith('/v2/priv/bb/blobs/') && r.authorization?.startsWith('Bearer ')),
      'the registry itself got the token (so a leak would have been possible)',
    );
    assert.ok(front.tokenRequests.some((r) => r.authorization?.startsWith('Basic ')), 'the token came from the stored credentials');
    const inspect = await d.api('GET', `/images/${encodeURIComponent(`${front.host}/priv/bb:v1`)}/json`);
    assert.equal(inspect.body.Id, img.configDigest);
  });

  test('a foreign-layer URL on another host is never fetched with credentials', async () => {
    const before = other.seen.length;
    const pull = await d.cli(['pull', `${front.host}/priv/fx:foreign`]);
    // Either the layer comes from the registry (ignoring urls, like docker for non-Windows
    // layers) or the pull fails cleanly: both fine, a credential to 127.0.0.2 is not.
    if (pull.code !== 0) assert.ok(pull.stderr.trim().length > 0, 'a refusal says why');
    for (const s of other.seen.slice(before)) assert.equal(s.headers.authorization, undefined, `credentials were sent to ${other.host}${s.url}`);
    assert.ok(front.requests.some((r) => r.url === '/v2/priv/fx/manifests/foreign'), 'the foreign manifest was served');
    const top = fimg.layers[fimg.layers.length - 1].digest;
    if (pull.code === 0) assert.ok(other.seen.slice(before).some((s) => s.url.includes(top)), 'the foreign layer was fetched (through the redirect or its URL)');
  });
});
