/** `conga history IMAGE`: GET /images/{name}/history as docker's table. Owner: image commands. */
import { humanSize, shortId, timeAgo } from '../humanize';
import { renderTable } from '../table';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'history',
  usage: '[OPTIONS] IMAGE',
  summary: 'Show the history of an image',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'human', short: 'H', kind: 'bool', default: true, help: 'Print sizes and dates in human readable format' },
    { name: 'no-trunc', kind: 'bool', help: "Don't truncate output" },
    { name: 'quiet', short: 'q', kind: 'bool', help: 'Only show image IDs' },
    { name: 'format', kind: 'string', help: 'Format output using a custom template: json' },
  ],
};

interface Row {
  Id: string;
  Created: number;
  CreatedBy: string;
  Size: number;
  Comment: string;
  Tags: string[] | null;
}

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const rows = (await ctx.client().json<Row[]>('GET', `/images/${encodeURIComponent(args[0])}/history`)) ?? [];
  const trunc = !flags['no-trunc'];
  const id = (r: Row) => (r.Id === '<missing>' ? r.Id : trunc ? shortId(r.Id) : r.Id);
  if (flags.quiet) {
    ctx.io.out(rows.map((r) => id(r) + '\n').join(''));
    return 0;
  }
  if (flags.format === 'json') {
    ctx.io.out(rows.map((r) => JSON.stringify(r) + '\n').join(''));
    return 0;
  }
  const by = (s: string) => (trunc && s.length > 45 ? `${s.slice(0, 44)}…` : s);
  const table = [['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
  for (const r of rows) table.push([id(r), timeAgo(r.Created), by(r.CreatedBy), humanSize(r.Size, 3), r.Comment]);
  ctx.io.out(renderTable(table));
  return 0;
}
