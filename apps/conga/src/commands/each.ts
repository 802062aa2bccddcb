/**
 * Shared helper for commands that act on each named container in parallel and print each name
 * (docker's stop/kill/pause/...): output in argument order, errors to stderr, status 1 if any failed.
 * Owner: CLI (apps/conga).
 */
import { messageFor } from '../errors';
import type { CommandContext } from './types';

export async function forEachContainer(ctx: CommandContext, act: (id: string) => Promise<unknown>, print: (id: string, result: unknown) => string | undefined = (id) => id): Promise<number> {
  const args = ctx.parsed.args;
  const results = await Promise.allSettled(args.map((a) => act(a)));
  let status = 0;
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      const line = print(args[i], r.value);
      if (line !== undefined) ctx.io.out(line + '\n');
    } else {
      ctx.io.err(messageFor(r.reason) + '\n');
      status = 1;
    }
  });
  return status;
}

export const cpath = (id: string, op = '') => `/containers/${encodeURIComponent(id)}${op ? `/${op}` : ''}`;
