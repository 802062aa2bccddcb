/** `conga unpause`: POST /containers/{id}/unpause. Owner: CLI (apps/conga). */
import { cpath, forEachContainer } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'unpause',
  usage: 'CONTAINER [CONTAINER...]',
  summary: 'Unpause all processes within one or more containers',
  minArgs: 1,
  flags: [],
};

export function run(ctx: CommandContext): Promise<number> {
  const client = ctx.client();
  return forEachContainer(ctx, (id) => client.call('POST', cpath(id, 'unpause')));
}
