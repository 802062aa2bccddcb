import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, type FlagSpec } from './args';
import { E, exitCodeFor } from './errors';
import { spec as runSpec } from './commands/run';
import { spec as stopSpec } from './commands/stop';
import { spec as rmSpec } from './commands/rm';

const run = (argv: string[]) => parseArgs(argv, runSpec.flags, { stopAtPositional: true, command: 'conga run' });

test('run: flags before the image, command after it', () => {
  const p = run(['-d', '--rm', '--name', 'web', '-e', 'A=1', '-e', 'B=2', 'busybox', 'sh', '-c', 'echo -d --rm']);
  assert.equal(p.flags.detach, true);
  assert.equal(p.flags.rm, true);
  assert.equal(p.flags.name, 'web');
  assert.deepEqual(p.flags.env, ['A=1', 'B=2']);
  assert.deepEqual(p.args, ['busybox', 'sh', '-c', 'echo -d --rm']);
});

test('--name=N, -eK=V, -e=K=V, -w DIR, -h HOST (not help), -u', () => {
  const p = run(['--name=x', '-eA=1', '-e=B=2', '-w', '/tmp', '-h', 'box', '-u', '1000:1000', 'img']);
  assert.equal(p.flags.name, 'x');
  assert.deepEqual(p.flags.env, ['A=1', 'B=2']);
  assert.equal(p.flags.workdir, '/tmp');
  assert.equal(p.flags.hostname, 'box');
  assert.equal(p.flags.user, '1000:1000');
  assert.equal(p.help, false);
  assert.deepEqual(p.args, ['img']);
});

test('combined short booleans -dit', () => {
  const p = run(['-dit', 'img', 'sh']);
  assert.equal(p.flags.detach, true);
  assert.equal(p.flags.interactive, true);
  assert.equal(p.flags.tty, true);
  assert.deepEqual(p.args, ['img', 'sh']);
});

test('a value flag at the end of a cluster takes the next argument or the rest', () => {
  const specs: FlagSpec[] = [
    { name: 'all', short: 'a', kind: 'bool', help: '' },
    { name: 'time', short: 't', kind: 'int', help: '', default: 10 },
  ];
  const o = { command: 'conga x' };
  assert.equal(parseArgs(['-at', '5'], specs, o).flags.time, 5);
  assert.equal(parseArgs(['-at5'], specs, o).flags.time, 5);
  assert.equal(parseArgs(['-t=7'], specs, o).flags.time, 7);
  assert.equal(parseArgs([], specs, o).flags.time, 10);
  assert.equal(parseArgs([], specs, o).set.has('time'), false);
});

test('-- ends options; interspersed positionals for other commands', () => {
  const p = parseArgs(['a', '-f', 'b', '--', '-c'], rmSpec.flags, { command: 'conga rm' });
  assert.equal(p.flags.force, true);
  assert.deepEqual(p.args, ['a', 'b', '-c']);
  const q = run(['--', '-img']);
  assert.deepEqual(q.args, ['-img']);
});

test('boolean with explicit value', () => {
  assert.equal(run(['--rm=false', 'i']).flags.rm, false);
  assert.equal(run(['--rm=true', 'i']).flags.rm, true);
  assert.throws(() => run(['--rm=maybe', 'i']), (e) => E.CliInvalidFlagValue.is(e));
});

test('--help anywhere before the image; -h is help only where the command has no -h', () => {
  assert.equal(run(['--help']).help, true);
  assert.equal(run(['img', '--help']).help, false);
  assert.equal(parseArgs(['-h'], stopSpec.flags, { command: 'conga stop' }).help, true);
});

test('errors: unknown flag, unknown shorthand, missing value, bad int; flag errors exit 125', () => {
  assert.throws(() => run(['--x', 'img']), (e) => E.CliUnknownFlag.is(e) && /unknown flag: --x/.test(e.message) && /conga run --help/.test(e.message));
  assert.throws(() => run(['--x=1', 'img']), (e) => E.CliUnknownFlag.is(e) && /unknown flag: --x\n/.test(e.message));
  assert.throws(() => run(['-dz', 'img']), (e) => E.CliUnknownShorthand.is(e) && /'z' in -dz/.test(e.message));
  assert.throws(() => run(['--name']), (e) => E.CliFlagNeedsArgument.is(e));
  assert.throws(() => run(['-e']), (e) => E.CliFlagNeedsArgument.is(e) && /-e/.test(e.message));
  let caught: unknown;
  try {
    parseArgs(['-t', 'abc', 'c'], stopSpec.flags, { command: 'conga stop' });
  } catch (e) {
    caught = e;
  }
  assert.ok(E.CliInvalidFlagValue.is(caught));
  assert.equal(exitCodeFor(caught), 125);
  assert.equal(exitCodeFor(E.DaemonNotFound('x')), 1);
});

test('a lone "-" is a positional', () => {
  assert.deepEqual(parseArgs(['-'], rmSpec.flags, { command: 'conga rm' }).args, ['-']);
});
