/** `conga tag SOURCE TARGET`: POST /images/{source}/tag. Owner: image commands. */
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = { name: 'tag', usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]', summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', minArgs: 2, maxArgs: 2, flags: [] };

/** Split "repo[:tag]" at the last ":" after the last "/". */
export function splitRepoTag(ref: string): { repo: string; tag: string } {
  const name = ref.split('@')[0];
  const i = name.lastIndexOf(':');
  return i > name.lastIndexOf('/') ? { repo: name.slice(0, i), tag: name.slice(i + 1) } : { repo: ref, tag: '' };
}

export async function run(ctx: CommandContext): Promise<number> {
  const [source, target] = ctx.parsed.args;
  const { repo, tag } = splitRepoTag(target);
  await ctx.client().call('POST', `/images/${encodeURIComponent(source)}/tag`, { query: { repo, tag: tag || undefined } });
  return 0;
}
