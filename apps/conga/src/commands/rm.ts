/** `conga rm`: DELETE /containers/{id} for each, printing each as docker does. Owner: CLI (apps/conga). */
import { messageFor } from '../errors';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'rm',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Remove one or more containers',
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', kind: 'bool', help: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'link', short: 'l', kind: 'bool', help: 'Remove the specified link' },
    { name: 'volumes', short: 'v', kind: 'bool', help: 'Remove anonymous volumes associated with the container' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const client = ctx.client();
  const query = { force: flags.force ? 1 : undefined, v: flags.volumes ? 1 : undefined, link: flags.link ? 1 : undefined };
  const results = await Promise.allSettled(args.map((c) => client.call('DELETE', `/containers/${encodeURIComponent(c)}`, { query })));
  let status = 0;
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') ctx.io.out(args[i] + '\n');
    else {
      ctx.io.err(messageFor(r.reason) + '\n');
      status = 1;
    }
  });
  return status;
}
