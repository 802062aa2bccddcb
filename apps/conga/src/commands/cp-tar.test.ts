import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { END, encodeHeader, padding, readTar } from './cp-tar';

const long = `${'d'.repeat(120)}/${'f'.repeat(110)}`;

test('encoded archives read back by GNU tar, long names included', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-cptar-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = Buffer.from('hello tar');
  const base = { mode: 0o640, uid: 1234, gid: 5678, size: 0, mtime: new Date(1_700_000_000_000), linkname: '' };
  const tar = Buffer.concat([
    encodeHeader({ ...base, name: 'top', type: 'directory', mode: 0o755 }),
    encodeHeader({ ...base, name: `top/${long}`, type: 'file', size: data.length }), data, padding(data.length),
    encodeHeader({ ...base, name: 'top/link', type: 'symlink', linkname: `/${long}` }),
    END,
  ]);
  writeFileSync(join(dir, 'a.tar'), tar);
  mkdirSync(join(dir, 'x'));
  const r = spawnSync('tar', ['--numeric-owner', '-xvvf', join(dir, 'a.tar'), '-C', join(dir, 'x')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(dir, 'x', 'top', long), 'utf8'), 'hello tar');
  assert.match(r.stdout, /1234\/5678/);
  assert.match(r.stdout, new RegExp(`top/link -> /${long}`));
});

test('readTar reads what GNU tar writes (PAX/GNU long names, several entries)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-cptar-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'src', 'd'.repeat(120)), { recursive: true });
  writeFileSync(join(dir, 'src', 'd'.repeat(120), 'f'.repeat(110)), 'x'.repeat(1000));
  writeFileSync(join(dir, 'src', 'small'), 'ab');
  for (const format of ['gnu', 'posix']) {
    const file = join(dir, `${format}.tar`);
    assert.equal(spawnSync('tar', [`--format=${format}`, '-cf', file, '-C', join(dir, 'src'), '.']).status, 0);
    const got = new Map<string, string>();
    for await (const { header, body } of readTar(createReadStream(file, { highWaterMark: 700 }))) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c);
      got.set(header.name.replace(/^\.\//, ''), header.type === 'file' ? Buffer.concat(chunks).toString() : header.type);
    }
    assert.equal(got.get(long), 'x'.repeat(1000), format);
    assert.equal(got.get('small'), 'ab', format);
    assert.equal(got.get(`${'d'.repeat(120)}/`) ?? got.get('d'.repeat(120)), 'directory', format);
  }
});
