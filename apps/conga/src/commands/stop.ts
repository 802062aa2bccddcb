/** `conga stop`: POST /containers/{id}/stop for each, printing each as docker does. Owner: CLI (apps/conga). */
import { messageFor } from '../errors';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'stop',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Stop one or more running containers',
  minArgs: 1,
  flags: [{ name: 'time', short: 't', kind: 'int', valueName: 'int', help: 'Seconds to wait for stop before killing it', default: 10 }],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args, set } = ctx.parsed;
  const client = ctx.client();
  const t = set.has('time') ? (flags.time as number) : undefined;
  // In parallel like docker; output in argument order.
  const results = await Promise.allSettled(
    args.map((c) => client.call('POST', `/containers/${encodeURIComponent(c)}/stop`, { query: { t } })),
  );
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
