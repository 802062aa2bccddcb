/** `conga load [-i FILE]`: POST /images/load with the tar from a file or STDIN. Owner: image commands. */
import { createReadStream } from 'node:fs';
import { E } from '../errors';
import { postStream } from './image-stream';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'load',
  usage: '[OPTIONS]',
  summary: 'Load an image from a tar archive or STDIN',
  maxArgs: 0,
  flags: [
    { name: 'input', short: 'i', kind: 'string', help: 'Read from tar archive file, instead of STDIN' },
    { name: 'quiet', short: 'q', kind: 'bool', help: 'Suppress the load output' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags } = ctx.parsed;
  const input = String(flags.input ?? '');
  if (!input && process.stdin.isTTY) throw E.InvalidArgument('requested load from stdin, but stdin is empty');
  const body = input ? createReadStream(input) : process.stdin;
  await postStream(ctx.client(), '/images/load', {
    query: { quiet: flags.quiet ? 1 : undefined },
    body,
    write: (s) => ctx.io.out(s),
    tty: ctx.io.outTty,
    columns: ctx.io.columns,
  });
  return 0;
}
