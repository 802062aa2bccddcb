/** `conga image prune`: POST /images/prune. Owner: image commands. */
import { humanSize } from '../humanize';
import { E } from '../errors';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'image prune',
  usage: '[OPTIONS]',
  summary: 'Remove unused images',
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', kind: 'bool', help: 'Remove all unused images, not just dangling ones' },
    { name: 'filter', kind: 'list', help: 'Provide filter values (e.g. "until=<timestamp>", "label=k=v")' },
    { name: 'force', short: 'f', kind: 'bool', help: 'Do not prompt for confirmation' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags } = ctx.parsed;
  if (!flags.force) throw E.InvalidArgument('image prune asks for confirmation, which this CLI does not prompt for: add -f to go ahead');
  const filters: Record<string, string[]> = {};
  for (const f of (flags.filter as string[] | undefined) ?? []) {
    const i = f.indexOf('=');
    if (i < 1) throw E.InvalidArgument(`bad format of filter (expected name=value): ${f}`);
    (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
  }
  if (flags.all) filters.dangling = ['false'];
  const res = await ctx.client().json<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }>('POST', '/images/prune', {
    query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
  });
  if (res?.ImagesDeleted?.length) {
    ctx.io.out('Deleted Images:\n');
    for (const r of res.ImagesDeleted) ctx.io.out(r.Untagged ? `untagged: ${r.Untagged}\n` : `deleted: ${r.Deleted}\n`);
    ctx.io.out('\n');
  }
  ctx.io.out(`Total reclaimed space: ${humanSize(res?.SpaceReclaimed ?? 0, 3)}\n`);
  return 0;
}
