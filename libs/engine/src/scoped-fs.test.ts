import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScopedRoot, closeQuietly, lstatAt, openDirAt } from './scoped-fs';

/** A fake container root next to a "host" secret outside it. */
function fixture() {
  const base = mkdtempSync(join(tmpdir(), 'conga-scoped-'));
  const root = join(base, 'rootfs');
  const host = join(base, 'host');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(host);
  writeFileSync(join(root, 'etc', 'x'), 'inside');
  writeFileSync(join(host, 'secret'), 'HOST SECRET');
  symlinkSync('/', join(root, 'evil')); // absolute: the container's / for the container, the host's for a naive join
  symlinkSync('../../../../../../..', join(root, 'up'));
  symlinkSync('/etc', join(root, 'etcl'));
  return { base, root, host, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

test('a naive path.join follows container symlinks onto the host; ScopedRoot does not', async (t) => {
  const f = fixture();
  t.after(f.cleanup);
  const hostSecret = join(f.host, 'secret');
  // What CVE-2018-15664-style code does: join the container path onto the root and open it.
  assert.equal(readFileSync(join(f.root, 'evil', hostSecret), 'utf8'), 'HOST SECRET');
  assert.equal(readFileSync(join(f.root, 'up', hostSecret), 'utf8'), 'HOST SECRET');

  const r = await ScopedRoot.open(f.root);
  t.after(() => r.close());
  for (const p of [`/evil${hostSecret}`, `/up${hostSecret}`, `/../../..${hostSecret}`]) {
    const loc = await r.resolve(p).catch((e) => e as NodeJS.ErrnoException);
    // Either a parent is missing inside the root (ENOENT) or the path resolves inside it, to nothing.
    if (loc instanceof Error) assert.equal(loc.code, 'ENOENT', p);
    else {
      assert.equal(await lstatAt(loc.dirFd, loc.name), undefined, p);
      assert.equal(loc.path, hostSecret, p);
      await closeQuietly(loc.dirFd);
    }
  }
});

test('symlinks inside the root resolve against the root; ".." stops at it', async (t) => {
  const f = fixture();
  t.after(f.cleanup);
  const r = await ScopedRoot.open(f.root);
  t.after(() => r.close());
  for (const p of ['/etcl/x', 'etcl/x', '/evil/etc/x', '/up/etc/x', '/../../etc/../etc/x']) {
    const loc = await r.resolve(p);
    assert.equal(loc.path, '/etc/x', p);
    assert.equal((await lstatAt(loc.dirFd, loc.name))?.size, 6, p);
    await closeQuietly(loc.dirFd);
  }
  // The last component is a link unless followFinal.
  const link = await r.resolve('/etcl');
  assert.ok((await lstatAt(link.dirFd, link.name))?.isSymbolicLink());
  await closeQuietly(link.dirFd);
  const dir = await r.resolve('/etcl', { followFinal: true });
  assert.equal(dir.path, '/etc');
  await closeQuietly(dir.dirFd);
  const root = await r.resolve('/evil/', { followFinal: true });
  assert.equal(root.name, '.');
  await closeQuietly(root.dirFd);
});

test('createParents makes missing dirs inside the root, through clamped links', async (t) => {
  const f = fixture();
  t.after(f.cleanup);
  const r = await ScopedRoot.open(f.root);
  t.after(() => r.close());
  const loc = await r.resolve(`/evil${f.host}/new/file`, { createParents: true });
  await closeQuietly(loc.dirFd);
  assert.ok(existsSync(join(f.root, f.host, 'new')), 'created inside the root');
  assert.ok(!existsSync(join(f.host, 'new')), 'nothing created on the host');
});

test('a directory swapped for a symlink after the lookup is refused, not followed', async (t) => {
  const f = fixture();
  t.after(f.cleanup);
  const r = await ScopedRoot.open(f.root);
  t.after(() => r.close());
  const rootFd = await r.openRoot();
  t.after(() => closeQuietly(rootFd));
  // The state an attacker reaches between our lstat ("a directory") and our open.
  symlinkSync(f.host, join(f.root, 'swapped'));
  await assert.rejects(openDirAt(rootFd, 'swapped'), (e: NodeJS.ErrnoException) => e.code === 'ELOOP' || e.code === 'ENOTDIR');
  await assert.rejects(lstatAt(rootFd, '..'), /invalid file name/);
});
