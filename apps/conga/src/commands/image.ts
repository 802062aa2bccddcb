/** `conga image SUBCOMMAND`: docker's management-command spelling of the image commands. Owner: image commands. */
import { COMMANDS } from './index';
import { runGroup, type SubCommands } from './group';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = { name: 'image', usage: 'COMMAND', summary: 'Manage images', stopAtPositional: true, flags: [] };

const ALIASES: Record<string, string> = { ls: 'images', list: 'images', rm: 'rmi', remove: 'rmi' };
const SAME = ['history', 'import', 'inspect', 'load', 'pull', 'push', 'save', 'tag'];

export function run(ctx: CommandContext): Promise<number> {
  const subs: SubCommands = { prune: () => import('./image-prune') };
  const summaries: Record<string, string> = { prune: 'Remove unused images' };
  for (const n of [...SAME, ...Object.keys(ALIASES)]) {
    const entry = COMMANDS[ALIASES[n] ?? n];
    if (!entry) continue;
    subs[n] = () => entry.load();
    summaries[n] = entry.summary;
  }
  return runGroup(ctx, 'image', 'Manage images', subs, Object.fromEntries(Object.entries(summaries).sort()));
}
