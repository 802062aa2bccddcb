import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bashScript, completionTree, zshScript } from './completion';
import { COMMANDS } from './index';

const DIR = join(__dirname, '..', '..', 'completion');
const regen = 'regenerate: node --import tsx apps/conga/src/main.ts completion bash > apps/conga/completion/conga.bash (and zsh > apps/conga/completion/_conga)';

test('the committed completion scripts match the command table (not stale)', async () => {
  const tree = await completionTree();
  assert.equal(readFileSync(join(DIR, 'conga.bash'), 'utf8'), bashScript(tree), regen);
  assert.equal(readFileSync(join(DIR, '_conga'), 'utf8'), zshScript(tree), regen);
});

test('the tree has every command, the groups their subcommands, each with its flags', async () => {
  const tree = await completionTree();
  assert.deepEqual(tree.map((n) => n.name), Object.keys(COMMANDS));
  const byName = new Map(tree.map((n) => [n.name, n]));
  assert.ok(byName.get('ps')!.flags.some((f) => f.flag === '--format'));
  assert.ok(byName.get('ps')!.flags.some((f) => f.flag === '-a'));
  const net = byName.get('network')!;
  assert.deepEqual(net.subs.map((s) => s.name).sort(), ['connect', 'create', 'disconnect', 'inspect', 'ls', 'prune', 'rm']);
  assert.ok(net.subs.find((s) => s.name === 'ls')!.flags.some((f) => f.flag === '--no-trunc'));
  assert.ok(byName.get('volume')!.subs.some((s) => s.name === 'ls' && s.flags.some((f) => f.flag === '--format')));
  assert.ok(byName.get('container')!.subs.some((s) => s.name === 'prune'));
});
