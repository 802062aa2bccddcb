/** `conga rename`: POST /containers/{id}/rename?name=NEW. Owner: CLI (apps/conga). */
import { cpath } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'rename',
  usage: 'CONTAINER NEW_NAME',
  summary: 'Rename a container',
  minArgs: 2,
  maxArgs: 2,
  flags: [],
};

export async function run(ctx: CommandContext): Promise<number> {
  const [id, name] = ctx.parsed.args;
  await ctx.client().call('POST', cpath(id, 'rename'), { query: { name } });
  return 0;
}
