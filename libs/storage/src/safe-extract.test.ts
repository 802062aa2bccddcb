import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E, newContext } from '@conga/common';
import { tempStorage } from './test-env';
import { writeLayer, type TestEntry } from './test-layers';

const ctx = newContext();

/** Every path below `dir` (relative), not following symlinks. */
function walk(dir: string, base = ''): string[] {
  const out: string[] = [];
  for (const d of readdirSync(join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${d.name}` : d.name;
    out.push(rel);
    if (d.isDirectory()) out.push(...walk(dir, rel));
  }
  return out;
}

test('safe extraction: files, dirs, links, devices, modes, owners, mtimes and xattrs are applied', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const mtime = new Date(1_500_000_000_000);
  const layer = await writeLayer(env.dir, [
    { name: './', type: 'directory', mode: 0o755 },
    { name: 'bin/', type: 'directory', mode: 0o750, uid: 0, gid: 0, mtime },
    { name: 'bin/su', content: 'suid', mode: 0o4755, uid: 0, gid: 0 },
    { name: 'bin/sgid', content: 'sgid', mode: 0o2711, uid: 1000, gid: 1001 },
    { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 7, gid: 8 },
    { name: 'bin/rel', type: 'symlink', linkname: '../etc/data' },
    { name: 'etc/data', content: 'hello', mode: 0o640, uid: 33, gid: 44, mtime },
    { name: 'etc/data-link', type: 'link', linkname: 'etc/data' },
    { name: '/abs/landed', content: 'inside' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660 },
    { name: 'run/fifo', type: 'fifo', mode: 0o600 },
    { name: 'cap', content: 'x', pax: { 'SCHILY.xattr.user.note': 'hi', 'SCHILY.xattr.security.capability': '\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00', 'SCHILY.xattr.trusted.overlay.redirect': '/x' } },
    { name: 'replace', content: 'first' },
    { name: 'replace', content: 'second' },
  ]);
  const res = await env.svc.applyLayer(layer, ctx);
  assert.equal(res.chainId, layer.chainId);
  assert.equal(res.diffId, layer.diffId);
  assert.ok(res.size >= 'suidsgidhelloinsidexsecond'.length);
  const root = join(env.storageDir, 'layers', layer.chainId.slice(7));
  const st = (p: string) => lstatSync(join(root, p));
  assert.equal(st('bin').mode & 0o7777, 0o750);
  assert.equal(st('bin').mtime.getTime(), mtime.getTime(), 'directory mtime applied after its contents');
  assert.equal(st('bin/su').mode & 0o7777, 0o4755);
  assert.equal(st('bin/sgid').mode & 0o7777, 0o2711);
  assert.equal(st('bin/sgid').uid, 1000);
  assert.equal(st('bin/sgid').gid, 1001);
  assert.ok(st('bin/sh').isSymbolicLink());
  assert.equal(readlinkSync(join(root, 'bin/sh')), '/bin/busybox');
  assert.equal(st('bin/sh').uid, 7);
  assert.equal(st('etc/data').mode & 0o7777, 0o640);
  assert.equal(st('etc/data').uid, 33);
  assert.equal(st('etc/data').mtime.getTime(), mtime.getTime());
  assert.equal(st('etc/data').ino, st('etc/data-link').ino, 'hard link shares the inode');
  assert.equal(readFileSync(join(root, 'abs/landed'), 'utf8'), 'inside', 'absolute names are stripped and land inside');
  assert.equal(st('tmp').mode & 0o7777, 0o1777);
  assert.ok(st('dev/null').isCharacterDevice());
  assert.equal(st('dev/null').rdev, statSync('/dev/null').rdev);
  assert.equal(st('dev/null').mode & 0o777, 0o666);
  assert.ok(st('dev/loop9').isBlockDevice());
  assert.ok(st('run/fifo').isFIFO());
  assert.equal(readFileSync(join(root, 'replace'), 'utf8'), 'second');
  const xattrs = execFileSync('getfattr', ['-d', '-m', '-', '-e', 'hex', join(root, 'cap')], { encoding: 'utf8' });
  assert.match(xattrs, /user\.note=0x6869/);
  assert.match(xattrs, /security\.capability=0x0100000200040000/);
  assert.doesNotMatch(xattrs, /trusted\.overlay/, 'trusted.* xattrs from a layer are never applied');
});

test('safe extraction: whiteouts become 0/0 char devices and opaque dirs get the overlay xattr', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const l1 = await writeLayer(env.dir, [{ name: 'a/keep', content: '1' }, { name: 'a/gone', content: '2' }, { name: 'o/old', content: '3' }]);
  const l2 = await writeLayer(env.dir, [{ name: 'a/.wh.gone', content: '' }, { name: 'o/', type: 'directory' }, { name: 'o/.wh..wh..opq', content: '' }, { name: 'o/new', content: '4' }, { name: '.wh..wh.plnk', content: '' }], { parent: l1 });
  await env.svc.applyLayer(l1, ctx);
  await env.svc.applyLayer(l2, ctx);
  const root = join(env.storageDir, 'layers', l2.chainId.slice(7));
  const wh = lstatSync(join(root, 'a/gone'));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.ok(!existsSync(join(root, 'a/.wh.gone')));
  const opq = execFileSync('getfattr', ['-n', 'trusted.overlay.opaque', '--only-values', join(root, 'o')], { encoding: 'utf8' });
  assert.equal(opq, 'y');
  assert.ok(!existsSync(join(root, 'o/.wh..wh..opq')));
  assert.ok(!existsSync(join(root, '.wh..wh.plnk')));
});

test('safe extraction: a malicious corpus is refused and writes nothing outside the layer', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const outside = join(env.dir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'victim'), 'precious');
  writeFileSync(join(outside, 'secret'), 'secret');
  const before = walk(env.dir).filter((p) => !p.startsWith('storage/')).sort();

  const cases: Record<string, TestEntry[]> = {
    'dot-dot': [{ name: '../escape', content: 'x' }],
    'deep dot-dot': [{ name: 'a/../../../../escape', content: 'x' }],
    'dot-dot dir': [{ name: '../escape-dir/', type: 'directory' }],
    'symlink out, then a file through it': [{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/pwned', content: 'x' }],
    'relative symlink out, then a file through it': [{ name: 'evil', type: 'symlink', linkname: '../../../outside' }, { name: 'evil/pwned', content: 'x' }],
    'hardlink to /etc/passwd': [{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }],
    'hardlink with dot-dot': [{ name: 'passwd', type: 'link', linkname: '../../../../../etc/passwd' }],
    'hardlink through a symlink': [{ name: 'sl', type: 'symlink', linkname: outside }, { name: 'x', type: 'link', linkname: 'sl/secret' }],
    'hardlink to a symlink pointing out': [{ name: 'sl', type: 'symlink', linkname: join(outside, 'secret') }, { name: 'x', type: 'link', linkname: 'sl' }],
    'dir replaced by a symlink, then written through': [{ name: 'd/', type: 'directory' }, { name: 'd', type: 'symlink', linkname: outside }, { name: 'd/pwned', content: 'x' }],
    'whiteout through a symlink': [{ name: 'w', type: 'symlink', linkname: outside }, { name: 'w/.wh.victim', content: '' }],
    'opaque marker through a symlink': [{ name: 'w', type: 'symlink', linkname: outside }, { name: 'w/.wh..wh..opq', content: '' }],
    'device through a symlink': [{ name: 'w', type: 'symlink', linkname: outside }, { name: 'w/null', type: 'character-device', devmajor: 1, devminor: 3 }],
    'whiteout of dot-dot': [{ name: 'a/.wh...', content: '' }],
  };
  for (const [name, entries] of Object.entries(cases)) {
    const layer = await writeLayer(env.dir, entries);
    await assert.rejects(env.svc.applyLayer(layer, ctx), (e: unknown) => E.UnsafeArchive.is(e), `case "${name}" must be refused`);
    assert.deepEqual((await env.svc.listLayers({}, ctx)).layers, [], `case "${name}" left a layer row`);
    assert.deepEqual(readdirSync(join(env.storageDir, 'layers')), [], `case "${name}" left a directory`);
  }
  const after = walk(env.dir).filter((p) => !p.startsWith('storage/') && !p.startsWith('layer-')).sort();
  assert.deepEqual(after, before.filter((p) => !p.startsWith('layer-')), 'nothing was created outside the storage dir');
  assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'precious');
  assert.equal(statSync(join(outside, 'secret')).nlink, 1);
  assert.throws(() => execFileSync('getfattr', ['-n', 'trusted.overlay.opaque', outside], { stdio: 'pipe' }));
  for (const p of [join(env.storageDir, 'escape'), join(env.storageDir, 'layers', 'escape'), join(env.dir, 'escape'), join(env.storageDir, 'escape-dir')]) assert.ok(!existsSync(p), p);
});

test('safe extraction: a symlink placed by a lower layer is never followed by an upper layer', async (t) => {
  const env = await tempStorage();
  t.after(() => env.cleanup());
  const outside = join(env.dir, 'outside');
  mkdirSync(outside);
  const l1 = await writeLayer(env.dir, [{ name: 'swap', type: 'symlink', linkname: outside }]);
  const l2 = await writeLayer(env.dir, [{ name: 'swap/pwned', content: 'x' }], { parent: l1 });
  await env.svc.applyLayer(l1, ctx);
  await env.svc.applyLayer(l2, ctx);
  assert.deepEqual(readdirSync(outside), []);
  const root2 = join(env.storageDir, 'layers', l2.chainId.slice(7));
  assert.ok(lstatSync(join(root2, 'swap')).isDirectory(), 'the upper layer gets its own real directory');
  assert.equal(readFileSync(join(root2, 'swap/pwned'), 'utf8'), 'x');
});
