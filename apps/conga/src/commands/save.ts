/** `conga save [-o FILE] IMAGE...`: GET /images/get as a docker-archive tar. Owner: image commands. */
import { archiveTarget, writeArchive } from '../archive-output';
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
  const out = archiveTarget(flags.output, ctx.io.outTty);
  const qs = args.map((a) => `names=${encodeURIComponent(a)}`).join('&');
  const res = await ctx.client().request('GET', `/images/get?${qs}`);
  await writeArchive(res, out);
  return 0;
}
