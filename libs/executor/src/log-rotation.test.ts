import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@conga/common';
import { LogRotator, splitLines } from './log-rotation';

const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `2026-11-22T00:00:00.000000000+00:00 stdout F line ${from + i}\n`).join('');

test('splitLines: whole lines, each piece within the limit, a longer line alone, nothing lost', () => {
  const text = Buffer.from(lines(0, 100));
  const pieces = splitLines(text, 500);
  assert.equal(Buffer.concat(pieces).toString(), text.toString());
  for (const p of pieces) {
    assert.ok(p.length <= 500);
    assert.equal(p[p.length - 1], 0x0a);
  }
  const long = Buffer.from(`short\n${'x'.repeat(50)}\nend\n`);
  assert.deepEqual(splitLines(long, 10).map(String), ['short\n', `${'x'.repeat(50)}\n`, 'end\n']);
  assert.deepEqual(splitLines(Buffer.alloc(0), 10), []);
});

test('LogRotator.finish: an oversized live file (monitor gone) becomes max-file whole-line files, newest kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-rot-'));
  try {
    const path = join(dir, 'ctr.log');
    writeFileSync(`${path}.1`, lines(0, 5)); // from an earlier rotation: older than the live file
    writeFileSync(path, lines(5, 200));
    // No monitor listens on the control fifo: the rotator must not loop, finish() does the work.
    const r = new LogRotator({ path, maxSize: 1024, maxFiles: 3, ctl: join(dir, 'ctl') }, silentLogger()).start();
    await r.finish();
    assert.deepEqual(readdirSync(dir).sort(), ['ctr.log', 'ctr.log.1', 'ctr.log.2']);
    const kept = [`${path}.2`, `${path}.1`, path].map((f) => readFileSync(f, 'utf8'));
    for (const k of kept) assert.ok(Buffer.byteLength(k) <= 1024);
    const all = kept.join('');
    assert.ok(all.endsWith(lines(199, 200)));
    assert.ok(lines(0, 200).endsWith(all), 'the newest lines, in order, without gaps');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
