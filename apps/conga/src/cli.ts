/**
 * The CLI driver: global flags, command lookup, per-command parsing, --help, arity, and turning
 * failures into stderr text + exit status. Owner: CLI (apps/conga).
 * `runCli` never calls process.exit and never writes to process streams except through `io`.
 */
import { formatFlags, parseArgs, type FlagSpec } from './args';
import { ApiClient } from './client';
import { COMMANDS } from './commands/index';
import type { CommandContext, CommandSpec, Io } from './commands/types';
import { E, exitCodeFor, messageFor } from './errors';
import { chooseHost, parseHost } from './host';
import { CLI_VERSION } from './meta';

/** Flags before the command name. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'host', short: 'H', kind: 'string', valueName: 'string', help: 'Daemon socket to connect to (default $CONGA_HOST, unix:// $DOCKER_HOST, unix:///run/conga/conga.sock)' },
  { name: 'debug', short: 'D', kind: 'bool', help: 'Enable debug mode' },
  { name: 'log-level', short: 'l', kind: 'string', valueName: 'string', help: 'Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")', default: 'info' },
  { name: 'version', short: 'v', kind: 'bool', help: 'Print version information and quit' },
];

/** Signal hook installed by main (tests may pass their own or none). */
export type SignalHook = (handler: ((sig: NodeJS.Signals) => void) | undefined) => void;

/** `conga --help`. */
export function globalHelp(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length)) + 2;
  return [
    '',
    'Usage:  conga [OPTIONS] COMMAND',
    '',
    'A lightweight container engine (Docker Engine API compatible)',
    '',
    'Options:',
    formatFlags(GLOBAL_FLAGS),
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(w)}${COMMANDS[n].summary}`),
    '',
    "Run 'conga COMMAND --help' for more information on a command.",
    '',
  ].join('\n');
}

/** `conga CMD --help`. */
export function commandHelp(spec: CommandSpec): string {
  return [
    '',
    `Usage:  conga ${spec.name} ${spec.usage}`,
    '',
    spec.summary,
    '',
    'Options:',
    formatFlags(spec.flags),
    '',
  ].join('\n');
}

function checkArity(spec: CommandSpec, n: number): void {
  const min = spec.minArgs ?? 0;
  const max = spec.maxArgs;
  const plural = (k: number): string => `${k} argument${k === 1 ? '' : 's'}`;
  let rule = '';
  if (max === 0 && n > 0) rule = 'accepts no arguments';
  else if (max !== undefined && min === max && n !== min) rule = `requires exactly ${plural(min)}`;
  else if (n < min) rule = `requires at least ${plural(min)}`;
  else if (max !== undefined && n > max) rule = `requires at most ${plural(max)}`;
  if (rule) throw E.CliArgCount(`conga ${spec.name}`, rule, `conga ${spec.name} ${spec.usage}\n\n${spec.summary}`);
}

/** Run the CLI for `argv` (without node and script) and resolve with the exit status. */
export async function runCli(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv, onSignal: SignalHook = () => {}): Promise<number> {
  try {
    const g = parseArgs(argv, GLOBAL_FLAGS, { stopAtPositional: true, command: 'conga' });
    if (g.flags.version) {
      io.out(`Conga version ${CLI_VERSION}\n`);
      return 0;
    }
    let [name, ...rest] = g.args;
    if (name === 'help') {
      if (rest.length === 0) name = '';
      else [name, rest] = [rest[0], ['--help']];
    }
    if (!name || g.help) {
      io.out(globalHelp());
      return 0;
    }
    const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!entry) throw E.CliUnknownCommand(name);
    const mod = await entry.load();
    const parsed = parseArgs(rest, mod.spec.flags, { stopAtPositional: mod.spec.stopAtPositional, command: `conga ${name}` });
    if (parsed.help) {
      io.out(commandHelp(mod.spec));
      return 0;
    }
    checkArity(mod.spec, parsed.args.length);
    let client: ApiClient | undefined;
    const ctx: CommandContext = {
      parsed,
      io,
      client: () => (client ??= new ApiClient(parseHost(chooseHost(g.flags.host as string, env)))),
      onSignal,
    };
    return await mod.run(ctx);
  } catch (e) {
    const msg = messageFor(e);
    if (msg) io.err(msg.endsWith('\n') ? msg : msg + '\n');
    return exitCodeFor(e);
  }
}
