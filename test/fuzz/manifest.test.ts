import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { E, isDigest } from '@conga/common';
import { parseManifest, selectPlatform, type ManifestIndex } from '../../libs/image/src/manifest';
import { MEDIA } from '../../libs/image/src/registry-client';
import { assertCatalogError, fuzzParams } from './fuzz-options';

/** Fuzzing manifests and indexes (libs/image/src/manifest.ts) as a registry could send them. */

const CODES = [E.InvalidImageConfig.code, E.UnsupportedManifest.code];
const mediaTypes = [...Object.values(MEDIA), 'application/json', '', 'text/html', 'application/vnd.oci.image.layer.v1.tar'];
const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
const digestish = fc.oneof(
  hex.map((h) => `sha256:${h}`),
  hex.map((h) => `sha512:${h}`),
  hex.map((h) => `sha256:${h.toUpperCase()}`),
  hex.map((h) => `sha256:../../${h.slice(6)}`),
  fc.string({ maxLength: 80 }),
  fc.jsonValue({ maxDepth: 1 }),
);
const platform = fc.oneof(
  fc.record({ os: fc.constantFrom('linux', 'windows', ''), architecture: fc.constantFrom('amd64', 'arm64', 'arm', 's390x'), variant: fc.option(fc.constantFrom('v7', 'v8', ''), { nil: undefined }) }, { requiredKeys: [] }),
  fc.jsonValue({ maxDepth: 2 }),
);
const descriptor = fc.oneof(
  fc.record(
    {
      mediaType: fc.oneof(fc.constantFrom(...mediaTypes), fc.jsonValue({ maxDepth: 1 })),
      digest: digestish,
      size: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.constantFrom(1e308, -0, 2 ** 53 + 2), fc.string({ maxLength: 5 })),
      platform,
      urls: fc.array(fc.webUrl(), { maxLength: 2 }),
    },
    { requiredKeys: ['digest'] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
const manifestLike = fc.record(
  {
    schemaVersion: fc.oneof(fc.constantFrom(1, 2), fc.jsonValue({ maxDepth: 0 })),
    mediaType: fc.oneof(fc.constantFrom(...mediaTypes), fc.jsonValue({ maxDepth: 0 })),
    config: descriptor,
    layers: fc.oneof(fc.array(descriptor, { maxLength: 5 }), fc.jsonValue({ maxDepth: 1 })),
    manifests: fc.oneof(fc.array(descriptor, { maxLength: 5 }), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  manifestLike.map((m) => Buffer.from(JSON.stringify(m))),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
  fc.tuple(manifestLike, fc.nat()).map(([m, n]) => Buffer.from(JSON.stringify(m).slice(0, n % 200))),
  fc.constantFrom('{"layers": [], "size": 1e999}', '{"manifests": [{"digest": "sha256:' + 'a'.repeat(64) + '", "size": 1e999}]}', '{"__proto__": {"layers": []}}').map((s) => Buffer.from(s)),
);

/** Sizes are used for progress and as download limits: they must be safe non-negative integers. */
function assertDescriptorSane(d: { digest: string; size: number }): void {
  assert.ok(isDigest(d.digest), `digest ${d.digest} is a valid sha256 digest`);
  assert.ok(Number.isSafeInteger(d.size) && d.size >= 0, `size ${d.size} is a safe non-negative integer`);
}

function fuzzParse(checkSizes: boolean): void {
  fc.assert(
    fc.property(body, fc.constantFrom(...mediaTypes), (b, ct) => {
      let m;
      try {
        m = parseManifest(b, ct, 'fuzz/ref:1');
      } catch (e) {
        assertCatalogError(e, CODES, b.toString('utf8'));
        return;
      }
      const all = m.kind === 'manifest' ? [m.config, ...m.layers] : m.manifests;
      for (const d of all) {
        assert.ok(isDigest(d.digest), `digest ${d.digest} is a valid sha256 digest`);
        assert.equal(typeof d.size, 'number');
        if (checkSizes) assertDescriptorSane(d);
      }
    }),
    fuzzParams(500),
  );
}

test('fuzz manifest: registry bytes parse into descriptors with valid digests or fail with a catalog error', () => fuzzParse(false));

// Sizes bound downloads (ContentStore aborts a blob as soon as it exceeds its descriptor's size),
// so parseManifest refuses Infinity (1e999), fractions, negative, huge or missing sizes.
test('fuzz manifest: descriptor sizes are safe non-negative integers', () => fuzzParse(true));

test('fuzz manifest: platform selection returns an entry of the index or NoMatchingPlatform', () => {
  const index = fc.array(descriptor, { maxLength: 6 }).map((ms) => {
    try {
      return parseManifest(Buffer.from(JSON.stringify({ mediaType: MEDIA.ociIndex, manifests: ms })), MEDIA.ociIndex, 'x') as ManifestIndex;
    } catch {
      return undefined;
    }
  });
  const want = fc.record({ os: fc.constantFrom('linux', 'windows', ''), architecture: fc.constantFrom('amd64', 'arm64', 'arm', ''), variant: fc.constantFrom('', 'v7', 'v8') });
  fc.assert(
    fc.property(index, want, (ix, w) => {
      if (!ix) return;
      try {
        const d = selectPlatform(ix, w, 'x');
        assert.ok(ix.manifests.includes(d));
        assert.equal(d.platform?.os, w.os);
        assert.equal(d.platform?.architecture, w.architecture);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assertCatalogError(e, [E.NoMatchingPlatform.code], { ix, w });
      }
    }),
    fuzzParams(300),
  );
});
