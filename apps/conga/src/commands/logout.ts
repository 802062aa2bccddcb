/** `conga logout [SERVER]`: forget the stored credentials (extension POST /conga/v1/auth/logout). Owner: image commands. */
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = { name: 'logout', usage: '[SERVER]', summary: 'Log out from a registry', maxArgs: 1, flags: [] };

export async function run(ctx: CommandContext): Promise<number> {
  const server = ctx.parsed.args[0] ?? '';
  const shown = server || 'https://index.docker.io/v1/';
  const res = await ctx.client().json<{ Removed?: boolean }>('POST', '/conga/v1/auth/logout', { body: { serveraddress: server } });
  ctx.io.out(res?.Removed ? `Removing login credentials for ${shown}\n` : `Not logged in to ${shown}\n`);
  return 0;
}
