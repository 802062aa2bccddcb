/** `conga start`: POST /containers/{id}/start (with -a: stream its output and exit with its status). Owner: CLI (apps/conga). */
import { copyLogStream } from '../log-stream';
import { cpath, forEachContainer } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'start',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Start one or more stopped containers',
  minArgs: 1,
  flags: [
    { name: 'attach', short: 'a', kind: 'bool', help: "Attach STDOUT/STDERR and forward signals" },
    { name: 'interactive', short: 'i', kind: 'bool', help: "Attach container's STDIN" },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const client = ctx.client();
  const { flags, args } = ctx.parsed;
  if (flags.attach || flags.interactive) {
    const id = args[0];
    const attach = client.start('POST', cpath(id, 'attach'), { query: { stream: 1, stdout: 1, stderr: 1 } });
    attach.response.catch(() => undefined);
    await Promise.race([attach.sent, attach.response.then(() => undefined, () => undefined)]);
    await client.call('POST', cpath(id, 'start'));
    await copyLogStream(await attach.response, ctx.io, false);
    const res = await client.json<{ StatusCode?: number }>('POST', cpath(id, 'wait'));
    return res?.StatusCode ?? 0;
  }
  return forEachContainer(ctx, (id) => client.call('POST', cpath(id, 'start')));
}
