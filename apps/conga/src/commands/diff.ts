/** `conga diff CONTAINER`: GET /containers/{id}/changes, printed as docker does ("A /path"). Owner: CLI cp/export. */
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'diff',
  usage: 'CONTAINER',
  summary: "Inspect changes to files or directories on a container's filesystem",
  minArgs: 1,
  maxArgs: 1,
  flags: [],
};

const KIND = ['C', 'A', 'D'];

export async function run(ctx: CommandContext): Promise<number> {
  const changes = await ctx.client().json<{ Path: string; Kind: number }[] | null>('GET', `/containers/${encodeURIComponent(ctx.parsed.args[0])}/changes`);
  for (const c of changes ?? []) ctx.io.out(`${KIND[c.Kind] ?? '?'} ${c.Path}\n`);
  return 0;
}
