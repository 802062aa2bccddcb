import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E, newContext, silentLogger } from '@conga/common';
import { tempStorage } from '../../libs/storage/src/test-env';
import { writeLayer, type TestEntry, type TestLayer } from '../../libs/storage/src/test-layers';

/**
 * Layer tar escapes that docker and containerd shipped fixes for, replayed against the storage
 * service's unpacker (what every pull runs): nothing may be created, modified, chmod'ed,
 * chown'ed or re-timed outside the layer, and a refused layer leaves no trace.
 */

const ctx = newContext(silentLogger());

async function setup(t: import('node:test').TestContext) {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const outside = join(env.dir, 'outside');
  mkdirSync(outside);
  const victim = join(outside, 'victim');
  writeFileSync(victim, 'precious');
  chmodSync(victim, 0o600);
  utimesSync(victim, new Date(1_000_000_000_000), new Date(1_000_000_000_000));
  const fingerprint = () => {
    const st = statSync(victim);
    return { listing: readdirSync(outside).sort(), content: readFileSync(victim, 'utf8'), mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtimeMs, nlink: st.nlink, outsideMode: statSync(outside).mode };
  };
  const before = fingerprint();
  /** Apply a layer; it must be refused with UnsafeArchive or land entirely inside. */
  const apply = async (entries: TestEntry[], parent?: TestLayer): Promise<TestLayer | undefined> => {
    const layer = await writeLayer(env.dir, entries, { parent, gzip: false });
    try {
      await env.svc.applyLayer(layer, ctx);
      return layer;
    } catch (e) {
      assert.ok(E.UnsafeArchive.is(e), `expected UnsafeArchive, got ${String(e)}`);
      assert.ok(!(await env.svc.listLayers({}, ctx)).layers.some((l) => l.chainId === layer.chainId), 'no row for a refused layer');
      return undefined;
    }
  };
  const assertUntouched = (what: string) => assert.deepEqual(fingerprint(), before, `${what}: the outside dir or its file changed`);
  return { env, outside, victim, apply, assertUntouched };
}

test('CVE-2014-6407: symlinks and hard links in a layer cannot make extraction write outside', async (t) => {
  const s = await setup(t);
  const cases: Record<string, TestEntry[]> = {
    'absolute symlink parent': [{ name: 'etc', type: 'symlink', linkname: s.outside }, { name: 'etc/victim', content: 'pwned' }],
    'relative symlink parent': [{ name: 'etc', type: 'symlink', linkname: '../../../../../../../../' + s.outside.slice(1) }, { name: 'etc/victim', content: 'pwned' }],
    'hard link to a host file': [{ name: 'h', type: 'link', linkname: s.victim }, { name: 'h', content: 'pwned' }],
    'hard link through a symlink': [{ name: 'l', type: 'symlink', linkname: s.outside }, { name: 'h', type: 'link', linkname: 'l/victim' }],
    'symlink then file of the same name': [{ name: 'f', type: 'symlink', linkname: s.victim }, { name: 'f', content: 'pwned' }],
  };
  for (const [name, entries] of Object.entries(cases)) {
    await s.apply(entries);
    s.assertUntouched(name);
  }
});

test('CVE-2014-9356: ".." and absolute paths, also behind symlinks, stay inside the layer', async (t) => {
  const s = await setup(t);
  const cases: Record<string, TestEntry[]> = {
    'dot-dot file': [{ name: '../../outside/victim', content: 'pwned' }],
    'absolute file': [{ name: s.victim, content: 'ok-inside' }],
    'symlink to dot-dot then dot-dot': [{ name: 'up', type: 'symlink', linkname: '..' }, { name: 'up/up/outside/victim', content: 'pwned' }],
    'chain of symlinks': [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: s.outside }, { name: 'a/victim', content: 'pwned' }],
    'dot-dot hard link': [{ name: 'h', type: 'link', linkname: '../../outside/victim' }],
  };
  for (const [name, entries] of Object.entries(cases)) {
    const layer = await s.apply(entries);
    s.assertUntouched(name);
    if (layer && name === 'absolute file') {
      const inside = join(s.env.storageDir, 'layers', layer.chainId.slice(7), s.victim.slice(1));
      assert.equal(readFileSync(inside, 'utf8'), 'ok-inside', 'an absolute name lands inside the layer');
    }
  }
});

test('CVE-2021-32760 class: chmod, chown, utimes, xattrs and mknod never follow a symlink out', async (t) => {
  const s = await setup(t);
  const cases: Record<string, TestEntry[]> = {
    'directory entry over a symlink (chmod/chown/utimes)': [{ name: 'x', type: 'symlink', linkname: s.victim }, { name: 'x/', type: 'directory', mode: 0o4777, uid: 1234, gid: 1234, mtime: new Date(0) }],
    'symlink with owner and mtime': [{ name: 'y', type: 'symlink', linkname: s.victim, uid: 1234, gid: 1234, mtime: new Date(0) }],
    'xattr on a file behind a symlink parent': [{ name: 'd', type: 'symlink', linkname: s.outside }, { name: 'd/victim', content: 'x', pax: { 'SCHILY.xattr.user.pwn': '1' } }],
    'whiteout behind a symlink parent': [{ name: 'd', type: 'symlink', linkname: s.outside }, { name: 'd/.wh.victim', content: '' }],
    'opaque marker behind a symlink parent': [{ name: 'd', type: 'symlink', linkname: s.outside }, { name: 'd/.wh..wh..opq', content: '' }],
    'device node behind a symlink parent': [{ name: 'd', type: 'symlink', linkname: s.outside }, { name: 'd/mem', type: 'character-device', devmajor: 1, devminor: 1 }],
    'root entry with a mode': [{ name: './', type: 'directory', mode: 0o777 }, { name: 'z', type: 'symlink', linkname: '..' }, { name: 'z/', type: 'directory', mode: 0o777 }],
  };
  for (const [name, entries] of Object.entries(cases)) {
    await s.apply(entries);
    s.assertUntouched(name);
  }
});

test('symlink swap across layers: a lower layer symlink is never followed by an upper layer', async (t) => {
  const s = await setup(t);
  const lower = await s.apply([{ name: 'swap', type: 'symlink', linkname: s.outside }, { name: 'rel', type: 'symlink', linkname: '../../../../../../' + s.outside.slice(1) }]);
  assert.ok(lower, 'a layer that only has symlinks is fine');
  const upper = await s.apply(
    [{ name: 'swap/victim', content: 'pwned' }, { name: 'rel/victim', content: 'pwned' }, { name: 'swap/.wh.victim', content: '' }],
    lower,
  );
  s.assertUntouched('upper layer writing through lower symlinks');
  if (upper) {
    const root = join(s.env.storageDir, 'layers', upper.chainId.slice(7));
    assert.ok(lstatSync(join(root, 'swap')).isDirectory(), 'the upper layer has its own directory, which overlay stacks over the symlink');
  }
});
