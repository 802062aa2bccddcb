import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { archivePath, extractInto, isGoDir, isGoSymlink, statPath } from './container-archive';
import { changes, exportRoot } from './container-export';
import { ScopedRoot } from './scoped-fs';

function fixture() {
  const base = mkdtempSync(join(tmpdir(), 'conga-archive-'));
  const root = join(base, 'rootfs');
  const host = join(base, 'host');
  mkdirSync(join(root, 'data', 'sub'), { recursive: true });
  mkdirSync(host);
  writeFileSync(join(root, 'data', 'a.txt'), 'A');
  writeFileSync(join(root, 'data', 'sub', 'b.txt'), 'BB');
  writeFileSync(join(host, 'secret'), 'HOST SECRET');
  symlinkSync(join(host, 'secret'), join(root, 'data', 'leak')); // absolute: points at the host for a naive reader
  symlinkSync(host, join(root, 'esc'));
  return { base, root, host, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

async function entries(tar: Readable): Promise<Map<string, { type: string; data: string; linkname?: string | null }>> {
  const out = new Map<string, { type: string; data: string; linkname?: string | null }>();
  const ex = tarExtract({});
  tar.pipe(ex);
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.set(e.header.name, { type: e.header.type ?? '', data: Buffer.concat(chunks).toString(), linkname: e.header.linkname });
  }
  return out;
}

function tarOf(files: { name: string; data?: string; type?: 'file' | 'directory' | 'symlink'; linkname?: string; uid?: number; gid?: number; mode?: number }[]): Readable {
  const p = tarPack();
  for (const f of files) p.entry({ name: f.name, type: f.type ?? 'file', linkname: f.linkname, uid: f.uid ?? 0, gid: f.gid ?? 0, mode: f.mode ?? 0o644 }, f.data ?? '');
  p.finalize();
  return Readable.from(p);
}

test('stat and archive: docker names, links archived as links, missing path is docker\'s 404', async (t) => {
  const f = fixture();
  t.after(f.cleanup);
  const r = await ScopedRoot.open(f.root);
  t.after(() => r.close());
  const st = await statPath(r, '/data', 'c1');
  assert.equal(st.name, 'data');
  assert.ok(isGoDir(st.mode));
  const ln = await statPath(r, '/data/leak', 'c1');
  assert.ok(isGoSymlink(ln.mode));
  assert.equal(ln.linkTarget, join(f.host, 'secret'), 'resolved inside the container root');
  const { tar } = await archivePath(r, '/data', 'c1');
  const got = await entries(tar);
  assert.deepEqual([...got.keys()].sort(), ['data', 'data/a.txt', 'data/leak', 'data/sub', 'data/sub/b.txt']);
  assert.equal(got.get('data/sub/b.txt')?.data, 'BB');
  assert.equal(got.get('data/leak')?.type, 'symlink');
  assert.ok(![...got.values()].some((e) => e.data.includes('HOST SECRET')));
  const dot = await entries((await archivePath(r, '/data/.', 'c1')).tar);
  assert.ok(dot.has('./a.txt'), [...dot.keys()].join(','));
  // Following the final link (path ends with "/") stays in the root: the target does not exist there.
  await assert.rejects(statPath(r, '/data/leak/', 'c1'), /Could not find the file \/data\/leak\/ in container c1/);
  await assert.rejects(statPath(r, '/nope', 'c1'), (e: { code?: string; message: string }) => e.code === 'CONGA_ERR_CONTAINER_PATH_NOT_FOUND' && e.message === 'Could not find the file /nope in container c1');
});

test('extract: writes through container links stay inside the root; owners follow copyUIDGID', async (t) => {
  const f = fixture();
  t.after(f.cleanup);
  const r = await ScopedRoot.open(f.root);
  t.after(() => r.close());
  const opts = { noOverwriteDirNonDir: true, copyUIDGID: false };
  await extractInto(r, '/', 'c1', tarOf([{ name: 'esc/pwned', data: 'x' }, { name: 'new/f', data: 'hello', uid: 1234, gid: 5678, mode: 0o640 }]), opts);
  assert.ok(!existsSync(join(f.host, 'pwned')), 'nothing written on the host');
  assert.equal(readFileSync(join(f.root, f.host, 'pwned'), 'utf8'), 'x');
  const s = statSync(join(f.root, 'new', 'f'));
  assert.equal(readFileSync(join(f.root, 'new', 'f'), 'utf8'), 'hello');
  assert.deepEqual([s.uid, s.gid, s.mode & 0o777], [0, 0, 0o640]);
  await extractInto(r, '/new', 'c1', tarOf([{ name: 'g', data: 'g', uid: 1234, gid: 5678 }]), { ...opts, copyUIDGID: true });
  assert.deepEqual([statSync(join(f.root, 'new', 'g')).uid, statSync(join(f.root, 'new', 'g')).gid], [1234, 5678]);
  // A file in the archive replacing a link to a host file replaces the link, not the host file.
  await extractInto(r, '/data', 'c1', tarOf([{ name: 'leak', data: 'replaced' }]), opts);
  assert.equal(readFileSync(join(f.host, 'secret'), 'utf8'), 'HOST SECRET');
  assert.ok(lstatSync(join(f.root, 'data', 'leak')).isFile());
  await assert.rejects(extractInto(r, '/', 'c1', tarOf([{ name: '../../x', data: 'x' }]), opts), /contains "\.\."/);
  await assert.rejects(extractInto(r, '/data/a.txt', 'c1', tarOf([{ name: 'x', data: 'x' }]), opts), /not a directory|Could not find/);
  await assert.rejects(extractInto(r, '/', 'c1', tarOf([{ name: 'data', data: 'x' }]), opts), /cannot overwrite directory/);
  await assert.rejects(extractInto(r, '/missing', 'c1', tarOf([{ name: 'x', data: 'x' }]), opts), /Could not find the file \/missing/);
});

test('export lists the whole root; changes reads whiteouts and tells added from modified', async (t) => {
  const f = fixture();
  t.after(f.cleanup);
  const r = await ScopedRoot.open(f.root);
  t.after(() => r.close());
  const names = [...(await entries(await exportRoot(r))).keys()];
  assert.ok(names.includes('data/sub/b.txt') && names.includes('esc'), names.join(','));

  const lower = join(f.base, 'lower');
  const upper = join(f.base, 'upper');
  mkdirSync(join(lower, 'etc'), { recursive: true });
  writeFileSync(join(lower, 'etc', 'passwd'), 'root');
  writeFileSync(join(lower, 'gone'), 'g');
  mkdirSync(join(upper, 'etc'), { recursive: true });
  writeFileSync(join(upper, 'etc', 'passwd'), 'changed');
  writeFileSync(join(upper, 'etc', 'added'), 'new');
  assert.equal(spawnSync('mknod', [join(upper, 'gone'), 'c', '0', '0']).status, 0);
  const u = await ScopedRoot.open(upper);
  t.after(() => u.close());
  assert.deepEqual(await changes(u, [lower]), [
    { Path: '/etc', Kind: 0 },
    { Path: '/etc/added', Kind: 1 },
    { Path: '/etc/passwd', Kind: 0 },
    { Path: '/gone', Kind: 2 },
  ]);
});
