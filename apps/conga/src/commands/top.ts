/** `conga top CONTAINER [ps OPTIONS]`: GET /containers/{id}/top as a table. Owner: CLI (apps/conga). */
import { renderTable } from '../table';
import { cpath } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'top',
  usage: 'CONTAINER [ps OPTIONS]',
  summary: 'Display the running processes of a container',
  minArgs: 1,
  stopAtPositional: true,
  flags: [],
};

export async function run(ctx: CommandContext): Promise<number> {
  const [id, ...ps] = ctx.parsed.args;
  const r = await ctx.client().json<{ Titles: string[]; Processes: string[][] }>('GET', cpath(id, 'top'), { query: { ps_args: ps.length ? ps.join(' ') : undefined } });
  ctx.io.out(renderTable([r.Titles, ...(r.Processes ?? [])]));
  return 0;
}
