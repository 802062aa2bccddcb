/** `conga container prune`: POST /containers/prune. Owner: CLI (apps/conga). */
import { humanSize } from '../humanize';
import { filtersJson } from './events';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'prune',
  usage: '[OPTIONS]',
  summary: 'Remove all stopped containers',
  maxArgs: 0,
  flags: [
    { name: 'filter', kind: 'list', valueName: 'filter', help: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', kind: 'bool', help: 'Do not prompt for confirmation' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  // Non-interactive by design: no prompt (docker prompts without -f).
  const r = await ctx.client().json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', { query: { filters: filtersJson(ctx.parsed.flags.filter as string[]) } });
  const ids = r.ContainersDeleted ?? [];
  if (ids.length) ctx.io.out(`Deleted Containers:\n${ids.join('\n')}\n\n`);
  ctx.io.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
  return 0;
}
