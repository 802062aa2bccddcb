/** `conga restart`: POST /containers/{id}/restart. Owner: CLI (apps/conga). */
import { cpath, forEachContainer } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'restart',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Restart one or more containers',
  minArgs: 1,
  flags: [{ name: 'time', short: 't', kind: 'int', valueName: 'int', help: 'Seconds to wait for stop before killing the container', default: 10 }],
};

export function run(ctx: CommandContext): Promise<number> {
  const client = ctx.client();
  const t = ctx.parsed.set.has('time') ? (ctx.parsed.flags.time as number) : undefined;
  return forEachContainer(ctx, (id) => client.call('POST', cpath(id, 'restart'), { query: { t } }));
}
