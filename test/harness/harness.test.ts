import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { startRegistry, htpasswdEntry } from './registry';
import { buildBusyboxImage, pushImage, MEDIA_MANIFEST_V2 } from './busybox-image';

function fetchRaw(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const c: Buffer[] = [];
      res.on('data', (d: Buffer) => c.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(c), type: String(res.headers['content-type'] ?? '') }));
    }).on('error', reject);
  });
}

async function tarNames(tar: Buffer): Promise<Map<string, { type: string; mode: number; linkname?: string | null }>> {
  const out = new Map<string, { type: string; mode: number; linkname?: string | null }>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      out.set(h.name, { type: String(h.type), mode: h.mode ?? 0, linkname: h.linkname });
      stream.on('end', next);
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return out;
}

test('busybox image: layer contents and deterministic digests', async () => {
  const a = await buildBusyboxImage();
  const b = await buildBusyboxImage();
  assert.equal(a.manifestDigest, b.manifestDigest);
  const tar = gunzipSync(a.layers[0].blob);
  assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, a.diffIds[0]);
  const names = await tarNames(tar);
  assert.equal(names.get('bin/busybox')?.type, 'file');
  assert.equal(names.get('bin/sh')?.type, 'symlink');
  assert.equal(names.get('bin/sh')?.linkname, 'busybox');
  assert.equal(names.get('tmp/')?.mode, 0o1777);
  for (const d of ['proc/', 'sys/', 'dev/', 'root/', 'etc/passwd', 'etc/group']) assert.ok(names.has(d), d);
  const cfg = JSON.parse(a.config.toString());
  assert.deepEqual(cfg.config.Cmd, ['sh']);
  assert.equal(cfg.architecture, 'amd64');
  assert.deepEqual(cfg.rootfs.diff_ids, a.diffIds);

  const c = await buildBusyboxImage({ cmd: ['echo', 'hi'], extraLayers: [{ '/etc/hello': 'hello\n', 'opt/x/': '' }] });
  assert.notEqual(c.configDigest, a.configDigest);
  assert.equal(c.layers.length, 2);
  assert.equal(c.chainIds[0], c.diffIds[0]);
  const expected1 = `sha256:${createHash('sha256').update(`${c.chainIds[0]} ${c.diffIds[1]}`).digest('hex')}`;
  assert.equal(c.chainIds[1], expected1);
  const names2 = await tarNames(gunzipSync(c.layers[1].blob));
  assert.deepEqual([...names2.keys()].sort(), ['etc/', 'etc/hello', 'opt/', 'opt/x/']);
});

test('registry: push then read back by tag and by digest; skopeo agrees', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
  const img = await buildBusyboxImage({ extraLayers: [{ 'a.txt': 'a' }] });
  const pushed = await pushImage(reg.host, 'test/busybox', 'v1', img);
  assert.equal(pushed.manifestDigest, img.manifestDigest);
  const byTag = await fetchRaw(`http://${reg.host}/v2/test/busybox/manifests/v1`, { Accept: MEDIA_MANIFEST_V2 });
  assert.equal(byTag.status, 200);
  assert.deepEqual(byTag.body, img.manifest);
  const byDigest = await fetchRaw(`http://${reg.host}/v2/test/busybox/manifests/${pushed.manifestDigest}`, { Accept: MEDIA_MANIFEST_V2 });
  assert.equal(byDigest.status, 200);
  const blob = await fetchRaw(`http://${reg.host}/v2/test/busybox/blobs/${img.layers[1].digest}`);
  assert.deepEqual(blob.body, img.layers[1].blob);
  // Pushing again is fine (blobs already there).
  await pushImage(reg.host, 'test/busybox', 'v2', img);
  if (existsSync('/usr/bin/skopeo')) {
    const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/test/busybox:v2`], { encoding: 'utf8' });
    const info = JSON.parse(out);
    assert.equal(info.Digest, img.manifestDigest);
    assert.equal(info.Layers.length, 2);
  }
  const dir = reg.dir;
  await reg.stop();
  await reg.stop();
  assert.equal(existsSync(dir), false);
  const after = await fetchRaw(`http://${reg.host}/v2/`).catch((e: Error) => e);
  assert.ok(after instanceof Error, 'registry still answers after stop');
});

test('registry with htpasswd requires basic auth', async (t) => {
  const reg = await startRegistry({ htpasswd: htpasswdEntry('alice', 's3cret') });
  t.after(() => reg.stop());
  const anon = await fetchRaw(`http://${reg.host}/v2/`);
  assert.equal(anon.status, 401);
  const img = await buildBusyboxImage();
  await assert.rejects(pushImage(reg.host, 'private', 'latest', img), /401/);
  const pushed = await pushImage(reg.host, 'private', 'latest', img, { username: 'alice', password: 's3cret' });
  const ok = await fetchRaw(`http://${reg.host}/v2/private/manifests/latest`, {
    Accept: MEDIA_MANIFEST_V2,
    Authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}`,
  });
  assert.equal(ok.status, 200);
  assert.equal(pushed.manifestDigest, img.manifestDigest);
});

test('two registries run side by side', async (t) => {
  const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  t.after(() => Promise.all([a.stop(), b.stop()]));
  assert.notEqual(a.host, b.host);
  assert.equal((await fetchRaw(`http://${a.host}/v2/`)).status, 200);
  assert.equal((await fetchRaw(`http://${b.host}/v2/`)).status, 200);
});
