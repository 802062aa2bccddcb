import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PinSet } from './pins';

test('pins are seen by other processes sharing the dir; a dead process holds none', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-pins-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = `blob:sha256:${'a'.repeat(64)}`;
  // Another live process (pid 1) and a dead one pinned the key.
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, '1', `blob-sha256-${'a'.repeat(64)}`), '');
  mkdirSync(join(dir, '999999999'), { recursive: true });
  writeFileSync(join(dir, '999999999', `blob-sha256-${'b'.repeat(64)}`), '');
  const pins = new PinSet(dir);
  pins.init();
  assert.deepEqual(readdirSync(dir).sort(), ['1', String(process.pid)].sort(), 'the dead process was swept');
  assert.equal(pins.has(key), true);
  assert.equal(pins.has(`blob:sha256:${'b'.repeat(64)}`), false);
  // Our own pins are files while held, counted.
  const mine = `chain:sha256:${'c'.repeat(64)}`;
  pins.pin(mine);
  pins.pin(mine);
  const other = new PinSet(dir); // same pid: reads its own counts only
  assert.equal(other.has(mine), false);
  assert.deepEqual(readdirSync(join(dir, String(process.pid))), [`chain-sha256-${'c'.repeat(64)}`]);
  pins.unpin(mine);
  assert.equal(pins.has(mine), true);
  pins.unpin(mine);
  assert.equal(pins.has(mine), false);
  assert.deepEqual(readdirSync(join(dir, String(process.pid))), []);
});
