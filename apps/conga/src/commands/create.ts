/** `conga create`: POST /containers/create (pulling the image when missing); prints the id. Owner: CLI (apps/conga). */
import { E } from '../errors';
import { pullImage } from '../pull-image';
import { familiar, parseRef } from '../reference';
import { CONTAINER_FLAGS, containerBody } from './container-flags';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'create',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a new container',
  stopAtPositional: true,
  minArgs: 1,
  flags: CONTAINER_FLAGS,
};

export async function run(ctx: CommandContext): Promise<number> {
  const body = containerBody(ctx.parsed, process.env, 'conga create');
  const client = ctx.client();
  const name = (ctx.parsed.flags.name as string) || undefined;
  const post = () => client.json<{ Id: string; Warnings?: string[] | null }>('POST', '/containers/create', { query: { name }, body });
  let res;
  try {
    res = await post();
  } catch (e) {
    if (!E.DaemonNotFound.is(e) || !/image/i.test((e as Error).message)) throw e;
    const ref = parseRef(ctx.parsed.args[0]);
    ctx.io.err(`Unable to find image '${familiar(ref)}' locally\n`);
    await pullImage(client, ref, { write: (s) => ctx.io.err(s), tty: ctx.io.errTty, columns: ctx.io.columns });
    res = await post();
  }
  for (const w of res.Warnings ?? []) ctx.io.err(`WARNING: ${w}\n`);
  ctx.io.out(res.Id + '\n');
  return 0;
}
