/** `conga wait`: POST /containers/{id}/wait for each; prints each exit code. Owner: CLI (apps/conga). */
import { cpath, forEachContainer } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'wait',
  usage: 'CONTAINER [CONTAINER...]',
  summary: 'Block until one or more containers stop, then print their exit codes',
  minArgs: 1,
  flags: [],
};

export function run(ctx: CommandContext): Promise<number> {
  const client = ctx.client();
  return forEachContainer(
    ctx,
    (id) => client.json<{ StatusCode: number }>('POST', cpath(id, 'wait')),
    (_id, r) => String((r as { StatusCode: number }).StatusCode),
  );
}
