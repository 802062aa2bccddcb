import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E, silentLogger } from '@conga/common';
import { parseManifest, selectPlatform } from './manifest';
import { MEDIA, RegistryClient } from './registry-client';
import { chainIds } from './puller';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const J = (o: unknown) => Buffer.from(JSON.stringify(o));

test('parses docker and OCI manifests', () => {
  const m = parseManifest(J({ schemaVersion: 2, mediaType: MEDIA.dockerManifest, config: { digest: d('a'), size: 1 }, layers: [{ digest: d('b'), size: 2, mediaType: 'x' }] }), MEDIA.dockerManifest, 'r');
  assert.equal(m.kind, 'manifest');
  const oci = parseManifest(J({ schemaVersion: 2, config: { digest: d('a'), size: 1 }, layers: [] }), MEDIA.ociManifest, 'r');
  assert.equal(oci.mediaType, MEDIA.ociManifest);
  assert.throws(() => parseManifest(J({ schemaVersion: 2, config: { digest: 'nope' }, layers: [] }), MEDIA.ociManifest, 'r'), (e) => E.InvalidImageConfig.is(e));
  assert.throws(() => parseManifest(Buffer.from('{'), MEDIA.ociManifest, 'r'), (e) => E.InvalidImageConfig.is(e));
});

test('schema 1 and unknown media types are refused clearly', () => {
  assert.throws(() => parseManifest(J({ schemaVersion: 1, fsLayers: [] }), MEDIA.dockerSchema1Signed, 'busybox:old'), (e) => {
    assert.ok(E.UnsupportedManifest.is(e));
    assert.match((e as Error).message, /schema 1.*busybox:old|busybox:old/);
    return true;
  });
  assert.throws(() => parseManifest(J({ schemaVersion: 2, mediaType: 'application/x-foo', layers: [] }), 'application/x-foo', 'r'), (e) => E.UnsupportedManifest.is(e));
});

test('selects the platform from an index', () => {
  const idx = parseManifest(
    J({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [
        { digest: d('1'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        { digest: d('2'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { digest: d('3'), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { digest: d('4'), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
      ],
    }),
    MEDIA.ociIndex,
    'r',
  );
  assert.equal(idx.kind, 'index');
  if (idx.kind !== 'index') return;
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'amd64', variant: '' }, 'r').digest, d('2'));
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm64', variant: '' }, 'r').digest, d('3'));
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v7' }, 'r').digest, d('1'));
  assert.throws(() => selectPlatform(idx, { os: 'linux', architecture: 's390x', variant: '' }, 'r'), (e) => E.NoMatchingPlatform.is(e));
  assert.throws(() => selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v6' }, 'r'), (e) => E.NoMatchingPlatform.is(e));
});

test('http only for loopback and insecure registries', () => {
  const c = new RegistryClient({ insecureRegistries: ['myreg:5000', '10.0.0.0/8'], log: silentLogger() });
  assert.equal(c.baseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
  assert.equal(c.baseUrl('localhost'), 'http://localhost');
  assert.equal(c.baseUrl('[::1]:5000'), 'http://[::1]:5000');
  assert.equal(c.baseUrl('myreg:5000'), 'http://myreg:5000');
  assert.equal(c.baseUrl('10.1.2.3:5000'), 'http://10.1.2.3:5000');
  assert.equal(c.baseUrl('11.1.2.3'), 'https://11.1.2.3');
  assert.equal(c.baseUrl('quay.io'), 'https://quay.io');
  assert.equal(c.baseUrl('docker.io'), 'https://registry-1.docker.io');
  c.close();
});

test('chain ids', () => {
  assert.deepEqual(chainIds([]), []);
  const c = chainIds([d('a'), d('b')]);
  assert.equal(c[0], d('a'));
  assert.match(c[1], /^sha256:[a-f0-9]{64}$/);
  assert.notEqual(c[1], d('b'));
});
