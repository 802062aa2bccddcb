/** `conga kill`: POST /containers/{id}/kill. Owner: CLI (apps/conga). */
import { cpath, forEachContainer } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'kill',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Kill one or more running containers',
  minArgs: 1,
  flags: [{ name: 'signal', short: 's', kind: 'string', valueName: 'string', help: 'Signal to send to the container', default: 'KILL' }],
};

export function run(ctx: CommandContext): Promise<number> {
  const client = ctx.client();
  const signal = ctx.parsed.flags.signal as string;
  return forEachContainer(ctx, (id) => client.call('POST', cpath(id, 'kill'), { query: { signal } }));
}
