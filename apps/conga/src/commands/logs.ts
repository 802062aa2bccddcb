/** `conga logs`: GET /containers/{id}/logs, demultiplexed to stdout/stderr. Owner: CLI (apps/conga). */
import { copyLogStream } from '../log-stream';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'logs',
  usage: '[OPTIONS] CONTAINER',
  summary: 'Fetch the logs of a container',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'details', kind: 'bool', help: 'Show extra details provided to logs' },
    { name: 'follow', short: 'f', kind: 'bool', help: 'Follow log output' },
    { name: 'since', kind: 'string', valueName: 'string', help: 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
    { name: 'tail', short: 'n', kind: 'string', valueName: 'string', help: 'Number of lines to show from the end of the logs', default: 'all' },
    { name: 'timestamps', short: 't', kind: 'bool', help: 'Show timestamps' },
    { name: 'until', kind: 'string', valueName: 'string', help: 'Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const client = ctx.client();
  const path = `/containers/${encodeURIComponent(args[0])}`;
  const inspect = await client.json<{ Config?: { Tty?: boolean } }>('GET', `${path}/json`);
  const res = await client.request('GET', `${path}/logs`, {
    query: {
      stdout: 1,
      stderr: 1,
      follow: flags.follow ? 1 : undefined,
      tail: flags.tail as string,
      timestamps: flags.timestamps ? 1 : undefined,
      details: flags.details ? 1 : undefined,
      since: (flags.since as string) || undefined,
      until: (flags.until as string) || undefined,
    },
  });
  await copyLogStream(res, ctx.io, Boolean(inspect?.Config?.Tty));
  return 0;
}
