/** `conga container SUBCOMMAND`: docker's management-command spelling of the container commands. Owner: CLI (apps/conga). */
import { COMMANDS } from './index';
import { runGroup, type SubCommands } from './group';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = { name: 'container', usage: 'COMMAND', summary: 'Manage containers', stopAtPositional: true, flags: [] };

const ALIASES: Record<string, string> = { ls: 'ps', list: 'ps', remove: 'rm' };
const SAME = ['create', 'inspect', 'kill', 'logs', 'pause', 'port', 'rename', 'restart', 'rm', 'run', 'start', 'stats', 'stop', 'top', 'unpause', 'update', 'wait', 'exec', 'attach', 'cp', 'export', 'diff'];

export function run(ctx: CommandContext): Promise<number> {
  const subs: SubCommands = { prune: () => import('./container-prune') };
  const summaries: Record<string, string> = { prune: 'Remove all stopped containers' };
  for (const n of [...SAME, ...Object.keys(ALIASES)]) {
    const target = ALIASES[n] ?? n;
    const entry = COMMANDS[target];
    if (!entry) continue;
    subs[n] = () => entry.load();
    summaries[n] = entry.summary;
  }
  return runGroup(ctx, 'container', 'Manage containers', subs, Object.fromEntries(Object.entries(summaries).sort()));
}
