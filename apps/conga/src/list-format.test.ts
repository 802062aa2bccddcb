import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createdAt, labelFields, renderList } from './list-format';
import { renderTemplate } from './go-template';
import { psFormatRow } from './commands/ps';

const HEADERS = { ID: 'CONTAINER ID', Names: 'NAMES', Status: 'STATUS', Label: 'LABEL' };
const rows = [
  { ID: 'abc', Names: 'web', Status: 'Up 2 seconds', ...labelFields({ tier: 'front', x: '1' }) },
  { ID: 'defghijklmnop', Names: 'db', Status: 'Exited (0) 1 second ago', ...labelFields(null) },
];

test('no format and plain "table" mean the default table', () => {
  assert.equal(renderList(undefined, rows, HEADERS), undefined);
  assert.equal(renderList('table', rows, HEADERS), undefined);
  assert.equal(renderList('table  ', rows, HEADERS), undefined);
});

test('"table TEMPLATE": header from column names, \\t escapes, tabwriter alignment', () => {
  assert.equal(
    renderList('table {{.Names}}\\t{{.Status}}', rows, HEADERS),
    'NAMES     STATUS\nweb       Up 2 seconds\ndb        Exited (0) 1 second ago\n',
  );
  assert.equal(renderList('table {{.ID}}\\t{{.Names}}', rows, HEADERS), 'CONTAINER ID    NAMES\nabc             web\ndefghijklmnop   db\n');
});

test('a plain template prints one line per item; json prints {{json .}} without methods', () => {
  assert.equal(renderList('{{.ID}}: {{.Names}}', rows, HEADERS), 'abc: web\ndefghijklmnop: db\n');
  const lines = renderList('json', rows, HEADERS)!.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], { ID: 'abc', Names: 'web', Status: 'Up 2 seconds', Labels: 'tier=front,x=1' });
  assert.equal(renderList('{{json .Names}}', rows, HEADERS), '"web"\n"db"\n');
});

test('methods with arguments: {{.Label "k"}}, also in a table header', () => {
  assert.equal(renderList('{{.Label "tier"}}|{{.Labels}}', rows, HEADERS), 'front|tier=front,x=1\n|\n');
  assert.equal(renderList('table {{.Names}}\\t{{.Label "tier"}}', rows, HEADERS), 'NAMES     LABEL\nweb       front\ndb\n');
  assert.equal(renderTemplate('{{.Label "tier"}}', labelFields({ tier: 'a' })), 'a');
});

test('ps rows carry docker fields: short ID, quoted command, names without slash', () => {
  const now = Date.parse('2026-11-22T07:00:00Z');
  const r = psFormatRow(
    { Id: 'a'.repeat(64), Names: ['/web'], Image: 'busybox', Command: 'httpd -f -p 80 -h /www', Created: now / 1000 - 120, State: 'running', Status: 'Up 2 minutes', Ports: [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }], Labels: { a: 'b' }, SizeRw: 12, SizeRootFs: 4_300_000 },
    true,
    now,
  );
  assert.equal(r.ID, 'a'.repeat(12));
  assert.equal(r.Names, 'web');
  assert.equal(r.Command, '"httpd -f -p 80 -h /…"');
  assert.equal(r.Ports, '127.0.0.1:8080->80/tcp');
  assert.equal(r.RunningFor, '2 minutes ago');
  assert.equal(r.CreatedAt, '2026-11-22 06:58:00 +0000 UTC');
  assert.equal(r.Size, '12B (virtual 4.3MB)');
  assert.equal(r.Labels, 'a=b');
});

test('createdAt is docker\'s time text', () => {
  assert.equal(createdAt(0), '');
  assert.equal(createdAt(1_700_000_000), '2023-11-14 22:13:20 +0000 UTC');
});
