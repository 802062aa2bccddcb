/**
 * `conga attach`: attach this terminal to a running container's input and output (docker's
 * flags). The daemon watches for the detach keys (ctrl-p ctrl-q by default) and ends the session
 * without stopping the container. The exit status is the container's when it stopped. Owner:
 * exec/attach.
 */
import { hijack, interact } from '../hijack';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'attach',
  usage: '[OPTIONS] CONTAINER',
  summary: "Attach local standard input, output, and error streams to a running container",
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'detach-keys', kind: 'string', valueName: 'string', help: 'Override the key sequence for detaching a container' },
    { name: 'no-stdin', kind: 'bool', help: 'Do not attach STDIN' },
    { name: 'sig-proxy', kind: 'bool', default: true, help: 'Proxy all received signals to the process' },
  ],
};

interface Inspect {
  Config?: { Tty?: boolean; OpenStdin?: boolean };
  State?: { Running?: boolean; ExitCode?: number };
}

export async function run(ctx: CommandContext): Promise<number> {
  const client = ctx.client();
  const path = `/containers/${encodeURIComponent(ctx.parsed.args[0])}`;
  const c = await client.json<Inspect>('GET', `${path}/json`);
  if (!c.State?.Running) {
    ctx.io.err('You cannot attach to a stopped container, start it first\n');
    return 1;
  }
  const tty = !!c.Config?.Tty;
  const stdin = !ctx.parsed.flags['no-stdin'] && !!c.Config?.OpenStdin;
  const h = await hijack(client, `${path}/attach`, {
    stream: 1, stdin: stdin ? 1 : 0, stdout: 1, stderr: 1, detachKeys: (ctx.parsed.flags['detach-keys'] as string) || undefined,
  });
  await interact(h, ctx.io, {
    tty,
    stdin,
    resize: (rows, cols) => void client.call('POST', `${path}/resize`, { query: { h: rows, w: cols } }).catch(() => undefined),
  });
  const after = await client.json<Inspect>('GET', `${path}/json`).catch(() => undefined);
  if (after?.State && !after.State.Running) return after.State.ExitCode ?? 0;
  return 0;
}
