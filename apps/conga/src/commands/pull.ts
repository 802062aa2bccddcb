/** `conga pull IMAGE`: POST /images/create with a progress display. Owner: CLI (apps/conga). */
import { pullImage } from '../pull-image';
import { parseRef, qualified } from '../reference';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'pull',
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  summary: 'Pull an image from a registry',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'quiet', short: 'q', kind: 'bool', help: 'Suppress verbose output' },
    { name: 'platform', kind: 'string', help: 'Set platform if server is multi-platform capable (os/arch[/variant])' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const ref = parseRef(ctx.parsed.args[0]);
  const quiet = Boolean(ctx.parsed.flags.quiet);
  await pullImage(ctx.client(), ref, {
    write: quiet ? () => {} : (s) => ctx.io.out(s),
    tty: ctx.io.outTty,
    columns: ctx.io.columns,
    platform: ctx.parsed.flags.platform ? String(ctx.parsed.flags.platform) : undefined,
  });
  ctx.io.out(qualified(ref) + '\n');
  return 0;
}
