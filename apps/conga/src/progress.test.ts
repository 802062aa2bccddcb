import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressRenderer, progressBar, type JsonMessage } from './progress';
import { E } from './errors';

const pull: JsonMessage[] = [
  { status: 'Pulling from library/busybox', id: 'latest' },
  { status: 'Pulling fs layer', id: 'aaa' },
  { status: 'Pulling fs layer', id: 'bbb' },
  { status: 'Downloading', id: 'aaa', progressDetail: { current: 500_000, total: 1_000_000 }, progress: '[==>   ]' },
  { status: 'Downloading', id: 'aaa', progressDetail: { current: 1_000_000, total: 1_000_000 } },
  { status: 'Download complete', id: 'aaa' },
  { status: 'Pull complete', id: 'bbb' },
  { status: 'Digest: sha256:123' },
  { status: 'Status: Downloaded newer image for busybox:latest' },
];

test('progress bar text like docker', () => {
  assert.equal(progressBar({ current: 500_000, total: 1_000_000 }, 120), `[${'='.repeat(25)}>${' '.repeat(25)}]    500kB/1MB`);
  assert.equal(progressBar({ current: 500_000, total: 1_000_000 }, 80), '   500kB/1MB');
  assert.equal(progressBar({ current: 2_000_000, total: 1_000_000 }, 120), `[${'='.repeat(50)}>] `);
  assert.equal(progressBar({ current: 1234, total: 0 }, 120), ' 1.234kB');
  assert.equal(progressBar({}, 120), '');
});

test('plain (non-TTY): one line per status change per layer, no bars', () => {
  let out = '';
  const r = new ProgressRenderer((s) => (out += s), { tty: false });
  for (const m of pull) r.update(m);
  assert.equal(
    out,
    [
      'latest: Pulling from library/busybox',
      'aaa: Pulling fs layer',
      'bbb: Pulling fs layer',
      'aaa: Downloading',
      'aaa: Download complete',
      'bbb: Pull complete',
      'Digest: sha256:123',
      'Status: Downloaded newer image for busybox:latest',
      '',
    ].join('\n'),
  );
  assert.ok(!out.includes('\x1b'));
});

/** A tiny terminal: applies "\n", "\r", ESC[nA, ESC[nB, ESC[2K to a screen of lines. */
function screen(text: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\x1b') {
      const m = /^\x1b\[(\d*)([ABK])/.exec(text.slice(i));
      assert.ok(m, 'known escape');
      const n = Number(m[1] || 1);
      if (m[2] === 'A') row -= n;
      else if (m[2] === 'B') row += n;
      else lines[row] = '';
      while (lines.length <= row) lines.push('');
      i += m[0].length - 1;
    } else if (c === '\n') {
      row++;
      col = 0;
      while (lines.length <= row) lines.push('');
    } else if (c === '\r') col = 0;
    else {
      const l = lines[row].padEnd(col);
      lines[row] = l.slice(0, col) + c + l.slice(col + 1);
      col++;
    }
  }
  assert.ok(row >= 0);
  return lines;
}

test('TTY: per-layer lines redrawn in place', () => {
  let out = '';
  const r = new ProgressRenderer((s) => (out += s), { tty: true, columns: 120 });
  for (const m of pull.slice(0, 3)) r.update(m);
  let s = screen(out);
  assert.deepEqual(s, [
    'latest: Pulling from library/busybox',
    'aaa: Pulling fs layer',
    'bbb: Pulling fs layer',
    '',
  ]);
  for (const m of pull.slice(3, 4)) r.update(m);
  s = screen(out);
  // the bar was drawn over layer aaa's line, others unchanged
  assert.equal(s[1], `aaa: Downloading [${'='.repeat(25)}>${' '.repeat(25)}]    500kB/1MB`);
  assert.equal(s[2], 'bbb: Pulling fs layer');
  for (const m of pull.slice(4)) r.update(m);
  s = screen(out);
  assert.deepEqual(s, [
    'latest: Pulling from library/busybox',
    'aaa: Download complete',
    'bbb: Pull complete',
    'Digest: sha256:123',
    'Status: Downloaded newer image for busybox:latest',
    '',
  ]);
});

test('error messages throw the daemon text', () => {
  const r = new ProgressRenderer(() => {}, { tty: false });
  assert.throws(
    () => r.update({ errorDetail: { message: 'manifest unknown' }, error: 'manifest unknown' }),
    (e) => E.DaemonStreamError.is(e) && e.message === 'manifest unknown',
  );
  assert.throws(() => r.update({ error: 'boom' }), (e) => E.DaemonStreamError.is(e) && e.message === 'boom');
});
