/** `conga export [-o FILE] CONTAINER`: GET /containers/{id}/export, the rootfs as a tar. Owner: CLI cp/export. */
import { archiveTarget, writeArchive } from '../archive-output';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'export',
  usage: '[OPTIONS] CONTAINER',
  summary: "Export a container's filesystem as a tar archive",
  minArgs: 1,
  maxArgs: 1,
  flags: [{ name: 'output', short: 'o', kind: 'string', help: 'Write to a file, instead of STDOUT' }],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const out = archiveTarget(flags.output, ctx.io.outTty);
  const res = await ctx.client().request('GET', `/containers/${encodeURIComponent(args[0])}/export`);
  await writeArchive(res, out);
  return 0;
}
