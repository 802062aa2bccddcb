/** `conga rmi IMAGE...`: DELETE /images/{name}, printing Untagged:/Deleted: lines like docker. Owner: image commands. */
import { messageFor } from '../errors';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'rmi',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  summary: 'Remove one or more images',
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', kind: 'bool', help: 'Force removal of the image' },
    { name: 'no-prune', kind: 'bool', help: 'Do not delete untagged parents' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  let status = 0;
  for (const img of args) {
    try {
      const res = await ctx.client().json<Array<{ Untagged?: string; Deleted?: string }>>('DELETE', `/images/${encodeURIComponent(img)}`, {
        query: { force: flags.force ? 1 : undefined, noprune: flags['no-prune'] ? 1 : undefined },
      });
      for (const r of res ?? []) ctx.io.out(r.Untagged ? `Untagged: ${r.Untagged}\n` : `Deleted: ${r.Deleted}\n`);
    } catch (e) {
      ctx.io.err(messageFor(e) + '\n');
      status = 1;
    }
  }
  return status;
}
