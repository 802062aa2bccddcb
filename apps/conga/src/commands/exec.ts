/**
 * `conga exec`: run a command in a running container (docker's flags). Attached (default): the
 * connection is hijacked and the exit status is the command's (GET /exec/{id}/json); -d prints
 * nothing and returns at once. Owner: exec/attach.
 */
import { CongaError, E, ExitStatus } from '../errors';
import { hijack, interact } from '../hijack';
import { resolveEnv } from './container-flags';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'exec',
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  summary: 'Execute a command in a running container',
  stopAtPositional: true,
  minArgs: 2,
  flags: [
    { name: 'detach', short: 'd', kind: 'bool', help: 'Detached mode: run command in the background' },
    { name: 'detach-keys', kind: 'string', valueName: 'string', help: 'Override the key sequence for detaching a container' },
    { name: 'env', short: 'e', kind: 'list', valueName: 'list', help: 'Set environment variables' },
    { name: 'interactive', short: 'i', kind: 'bool', help: 'Keep STDIN open even if not attached' },
    { name: 'privileged', kind: 'bool', help: 'Give extended privileges to the command' },
    { name: 'tty', short: 't', kind: 'bool', help: 'Allocate a pseudo-TTY' },
    { name: 'user', short: 'u', kind: 'string', valueName: 'string', help: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: 'workdir', short: 'w', kind: 'string', valueName: 'string', help: 'Working directory inside the container' },
  ],
};

interface ExecInspect {
  ExitCode?: number | null;
  Running?: boolean;
}

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const detach = Boolean(flags.detach);
  const tty = Boolean(flags.tty);
  const stdin = Boolean(flags.interactive);
  if (tty && stdin && !process.stdin.isTTY && !detach) throw new ExitStatus(1, E.CliInvalidFlagValue('-t', 'tty', 'the input device is not a TTY', 'exec'), '');
  const client = ctx.client();
  const container = args[0];
  const created = await client.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(container)}/exec`, {
    body: {
      AttachStdin: stdin && !detach, AttachStdout: !detach, AttachStderr: !detach, Tty: tty,
      Env: resolveEnv(flags.env as string[], process.env), Cmd: args.slice(1),
      User: flags.user as string, WorkingDir: flags.workdir as string, Privileged: Boolean(flags.privileged),
      DetachKeys: (flags['detach-keys'] as string) || undefined,
    },
  });
  const path = `/exec/${created.Id}`;
  if (detach) {
    await client.call('POST', `${path}/start`, { body: { Detach: true, Tty: tty } });
    return 0;
  }
  const h = await hijack(client, `${path}/start`, {}, { Detach: false, Tty: tty });
  await interact(h, ctx.io, {
    tty,
    stdin,
    resize: (rows, cols) => void client.call('POST', `${path}/resize`, { query: { h: rows, w: cols } }).catch(() => undefined),
  });
  const info = await client.json<ExecInspect>('GET', `${path}/json`).catch((e: CongaError) => {
    throw new ExitStatus(1, e, '');
  });
  return typeof info?.ExitCode === 'number' ? info.ExitCode : 0;
}
