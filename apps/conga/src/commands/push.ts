/** `conga push NAME[:TAG]`: POST /images/{name}/push with progress; the daemon uses stored credentials. Owner: image commands. */
import { postStream } from './image-stream';
import { splitRepoTag } from './tag';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'push',
  usage: '[OPTIONS] NAME[:TAG]',
  summary: 'Upload an image to a registry',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'all-tags', short: 'a', kind: 'bool', help: 'Push all tags of an image to the repository' },
    { name: 'quiet', short: 'q', kind: 'bool', help: 'Suppress verbose output' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const { repo, tag } = splitRepoTag(args[0]);
  const quiet = Boolean(flags.quiet);
  await postStream(ctx.client(), `/images/${encodeURIComponent(repo)}/push`, {
    query: { tag: flags['all-tags'] ? undefined : tag || 'latest' },
    headers: { 'X-Registry-Auth': Buffer.from('{}').toString('base64') },
    write: quiet ? () => {} : (s) => ctx.io.out(s),
    tty: ctx.io.outTty,
    columns: ctx.io.columns,
  });
  if (quiet) ctx.io.out(`${args[0]}\n`);
  return 0;
}
