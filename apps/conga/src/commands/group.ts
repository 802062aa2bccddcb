/**
 * Commands with subcommands (`conga container prune`, `conga volume ls`): the group parses the
 * subcommand's own flags and runs it with the same context. Owner: CLI (apps/conga).
 */
import { formatFlags, parseArgs } from '../args';
import { E } from '../errors';
import type { CommandContext, CommandModule } from './types';

export type SubCommands = Record<string, () => Promise<CommandModule>>;

function help(group: string, summary: string, subs: Record<string, string>): string {
  const w = Math.max(...Object.keys(subs).map((n) => n.length)) + 2;
  return ['', `Usage:  conga ${group} COMMAND`, '', summary, '', 'Commands:', ...Object.entries(subs).map(([n, s]) => `  ${n.padEnd(w)}${s}`), '', `Run 'conga ${group} COMMAND --help' for more information on a command.`, ''].join('\n');
}

/** Dispatch `conga GROUP SUB ...`. `summaries` drive --help. */
export async function runGroup(ctx: CommandContext, group: string, summary: string, subs: SubCommands, summaries: Record<string, string>): Promise<number> {
  const [sub, ...rest] = ctx.parsed.args;
  if (!sub || sub === '--help' || sub === 'help') {
    ctx.io.out(help(group, summary, summaries));
    return 0;
  }
  const load = Object.hasOwn(subs, sub) ? subs[sub] : undefined;
  if (!load) throw E.CliUnknownCommand(`${group} ${sub}`);
  const mod = await load();
  const command = `conga ${group} ${sub}`;
  const parsed = parseArgs(rest, mod.spec.flags, { stopAtPositional: mod.spec.stopAtPositional, command });
  if (parsed.help) {
    ctx.io.out(['', `Usage:  ${command} ${mod.spec.usage}`, '', mod.spec.summary, '', 'Options:', formatFlags(mod.spec.flags), ''].join('\n'));
    return 0;
  }
  const n = parsed.args.length;
  if (n < (mod.spec.minArgs ?? 0) || (mod.spec.maxArgs !== undefined && n > mod.spec.maxArgs)) {
    const rule = mod.spec.maxArgs === 0 ? 'accepts no arguments' : n < (mod.spec.minArgs ?? 0) ? `requires at least ${mod.spec.minArgs} argument${mod.spec.minArgs === 1 ? '' : 's'}` : `requires at most ${mod.spec.maxArgs} argument${mod.spec.maxArgs === 1 ? '' : 's'}`;
    throw E.CliArgCount(command, rule, `${command} ${mod.spec.usage}\n\n${mod.spec.summary}`);
  }
  return mod.run({ ...ctx, parsed });
}
