import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { E, newContext, silentLogger } from '@conga/common';
import { tempStorage } from '../../libs/storage/src/test-env';
import { buildTar, sha256, type TestEntry } from '../../libs/storage/src/test-layers';
import { chainIdOf } from '../../libs/storage/src/storage-service';
import { assertCatalogError, fuzzParams } from './fuzz-options';

/**
 * Fuzzing the layer unpacker (libs/storage: applyLayer → extractTar) with hostile tar streams:
 * random names made of "..", "/", ".", whiteouts; symlinks and hard links aimed outside;
 * devices; and random byte corruption of valid tars. Whatever the input: a layer or a catalog
 * error, nothing written, linked or changed outside the storage dir, no layer row left by a failure.
 */

const ctx = newContext(silentLogger());
const CODES = [E.UnsafeArchive.code, E.BadArchive.code, E.DigestMismatch.code];

/** Snapshot of a tree: relative path → type, mode, nlink, content hash or link target. */
function snapshot(dir: string, base = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of readdirSync(join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${d.name}` : d.name;
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    let what = `${st.mode.toString(8)} ${st.nlink} ${st.uid}:${st.gid}`;
    if (d.isSymbolicLink()) what += ` -> ${readlinkSync(abs)}`;
    else if (d.isFile()) what += ` ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`;
    out.set(rel, what);
    if (d.isDirectory()) for (const [k, v] of snapshot(dir, rel)) out.set(k, v);
  }
  return out;
}

const comp = fc.constantFrom('a', 'b', 'etc', '..', '.', '', 'x y', '.wh.a', '.wh..wh..opq', '.wh..wh.plnk', '.wh.', '.wh...', 'ü');
const name = fc.array(comp, { minLength: 1, maxLength: 4 }).chain((cs) => fc.constantFrom(cs.join('/'), '/' + cs.join('/'), cs.join('/') + '/', './' + cs.join('/')));

function entries(outside: string): fc.Arbitrary<TestEntry[]> {
  const target = fc.oneof(name, fc.constantFrom(outside, `${outside}/victim`, '../../../../outside/victim', '/etc/passwd', '/', '..', '.'));
  const entry: fc.Arbitrary<TestEntry> = fc.oneof(
    fc.record({ name, content: fc.string({ maxLength: 20 }), mode: fc.constantFrom(0o644, 0o4755, 0o777, 0o7777, 0) }),
    fc.record({ name, type: fc.constant('directory' as const), mode: fc.constantFrom(0o755, 0o700, 0o1777, 0) }),
    fc.record({ name, type: fc.constant('symlink' as const), linkname: target }),
    fc.record({ name, type: fc.constant('link' as const), linkname: target }),
    fc.record({ name, type: fc.constantFrom('character-device' as const, 'block-device' as const, 'fifo' as const), devmajor: fc.constantFrom(0, 1, 7), devminor: fc.constantFrom(0, 3, 9) }),
    fc.record({ name, content: fc.constant('x'), pax: fc.dictionary(fc.constantFrom('SCHILY.xattr.user.a', 'SCHILY.xattr.trusted.overlay.opaque', 'SCHILY.xattr.security.capability', 'uid', 'gid', 'path', 'linkpath'), fc.constantFrom('y', '0', '-1', '99999999999', '../../../outside/victim', '/etc/shadow')) }),
  );
  return fc.array(entry, { minLength: 1, maxLength: 8 });
}

test('fuzz unpack: hostile tar entries never write outside the layer', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const outside = join(env.dir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'victim'), 'precious');
  const before = snapshot(outside);
  let n = 0;
  let applied = 0;
  await fc.assert(
    fc.asyncProperty(entries(outside), async (es) => {
      let tar: Buffer;
      try {
        tar = await buildTar(es);
      } catch {
        return; // tar-stream cannot encode it (e.g. a name too long): not an input we can send
      }
      const blobPath = join(env.dir, `fuzz-${n++}.tar`);
      writeFileSync(blobPath, tar);
      const diffId = sha256(tar);
      const req = { chainId: chainIdOf('', diffId), parentChainId: '', diffId, blobPath, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
      try {
        await env.svc.applyLayer(req, ctx);
        applied++;
        await env.svc.deleteLayer({ chainId: req.chainId }, ctx);
      } catch (e) {
        assertCatalogError(e, CODES, es);
        const layers = (await env.svc.listLayers({}, ctx)).layers;
        assert.ok(!layers.some((l) => l.chainId === req.chainId), 'a refused layer leaves no row');
      }
      assert.deepEqual(snapshot(outside), before, `entries ${JSON.stringify(es)} changed the outside dir`);
      assert.deepEqual(readdirSync(env.dir).filter((f) => !/^(storage|outside|fuzz-\d+\.tar)$/.test(f)), [], 'nothing new next to the storage dir');
      // One blob at a time: kept, 10k of them made every readdir above O(n) (the nightly size timed out).
      rmSync(blobPath, { force: true });
    }),
    fuzzParams(200),
  );
  t.diagnostic(`${n} archives, ${applied} applied, ${n - applied} refused`);
});

test('fuzz unpack: corrupted and truncated tar bytes give a catalog error, never a crash', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const good = await buildTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/busybox', content: Buffer.alloc(3000, 7) },
    { name: 'long/' + 'n'.repeat(120) + '/file', content: 'pax path' },
  ]);
  let n = 0;
  const mutated = fc.oneof(
    fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }).map((flips) => {
      const b = Buffer.from(good);
      for (const [i, v] of flips) b[i] = v;
      return b;
    }),
    fc.nat({ max: good.length }).map((len) => good.subarray(0, len)),
    fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
  );
  await fc.assert(
    fc.asyncProperty(mutated, fc.boolean(), async (tar, honestDiffId) => {
      const blobPath = join(env.dir, `c-${n++}.tar`);
      writeFileSync(blobPath, tar);
      const diffId = honestDiffId ? sha256(tar) : sha256(good);
      const req = { chainId: chainIdOf('', diffId), parentChainId: '', diffId, blobPath, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
      try {
        await env.svc.applyLayer(req, ctx);
        await env.svc.deleteLayer({ chainId: req.chainId }, ctx);
      } catch (e) {
        assertCatalogError(e, CODES, `${tar.length} bytes`);
      }
      rmSync(blobPath, { force: true });
    }),
    fuzzParams(200),
  );
  assert.deepEqual((await env.svc.listLayers({}, ctx)).layers, []);
  assert.deepEqual(readdirSync(join(env.storageDir, 'layers')), [], 'no partial layer directory left');
});
