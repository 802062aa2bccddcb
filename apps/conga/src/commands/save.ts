/** `conga save [-o FILE] IMAGE...`: GET /images/get as a docker-archive tar. Owner: image commands. */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { E } from '../errors';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'save',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  minArgs: 1,
  flags: [{ name: 'output', short: 'o', kind: 'string', help: 'Write to a file, instead of STDOUT' }],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const out = String(flags.output ?? '');
  if (!out && ctx.io.outTty) throw E.InvalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const qs = args.map((a) => `names=${encodeURIComponent(a)}`).join('&');
  const res = await ctx.client().request('GET', `/images/get?${qs}`);
  if (!out) {
    await pipeline(res, process.stdout);
    return 0;
  }
  const tmp = `${out}.conga-tmp-${process.pid}`;
  try {
    await pipeline(res, createWriteStream(tmp, { mode: 0o644 }));
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return 0;
}
