/**
 * A small docker-style argument parser (pflag semantics). Owner: CLI (apps/conga).
 * Supports `--name N`, `--name=N`, `-n N`, `-nN`, `-n=N`, combined booleans (`-dit`, and `-dt5`
 * where the last flag takes the rest as its value), repeated list flags (`-e A=1 -e B=2`),
 * `--` to end options, and either interspersed positionals (`rm a -f b`) or stopping at the first
 * positional (`run IMAGE CMD...`, where flags after the image belong to the container command).
 */
import { E } from './errors';

/** One flag a command accepts. `list` flags collect every occurrence. */
export interface FlagSpec {
  /** Long name without dashes, e.g. "name". Also the key in {@link Parsed.flags}. */
  name: string;
  /** One-letter shorthand without the dash, e.g. "d". */
  short?: string;
  kind: 'bool' | 'string' | 'list' | 'int';
  /** One line for --help. */
  help: string;
  /** Placeholder for the value in --help (default: the kind). */
  valueName?: string;
  /** Default shown by --help and used when the flag is absent. */
  default?: string | number | boolean;
}

export type FlagValue = boolean | string | number | string[];

export interface Parsed {
  /** Every declared flag by long name: its value, or its default (false / '' / 0 / [] if none). */
  flags: Record<string, FlagValue>;
  /** Names of the flags that were given explicitly. */
  set: Set<string>;
  /** Positional arguments in order. */
  args: string[];
  /** True when --help (or -h, if the command does not use -h itself) was given. */
  help: boolean;
}

export interface ParseOptions {
  /** Stop at the first positional; everything after it is positional (docker run, global flags). */
  stopAtPositional?: boolean;
  /** The command as shown in error hints, e.g. "conga run". */
  command: string;
}

function defaultOf(f: FlagSpec): FlagValue {
  if (f.kind === 'list') return Array.isArray(f.default) ? [...f.default] : [];
  if (f.default !== undefined) return f.default;
  return f.kind === 'bool' ? false : f.kind === 'int' ? 0 : '';
}

function displayName(f: FlagSpec): string {
  return f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
}

function parseBool(value: string, f: FlagSpec, cmd: string): boolean {
  if (/^(1|t|true|T|TRUE|True)$/.test(value)) return true;
  if (/^(0|f|false|F|FALSE|False)$/.test(value)) return false;
  throw E.CliInvalidFlagValue(value, displayName(f), `parse error: expected true or false`, cmd);
}

/** Parse `argv` against `specs`; throws catalog CLI errors for unknown flags or bad values. */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: ParseOptions): Parsed {
  const cmd = opts.command;
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const f of specs) {
    byLong.set(f.name, f);
    if (f.short) byShort.set(f.short, f);
  }
  const flags: Record<string, FlagValue> = {};
  for (const f of specs) flags[f.name] = defaultOf(f);
  const set = new Set<string>();
  const args: string[] = [];
  const listSeen = new Set<string>();
  let help = false;

  const assign = (f: FlagSpec, raw: string, shown: string): void => {
    set.add(f.name);
    switch (f.kind) {
      case 'bool':
        flags[f.name] = parseBool(raw, f, cmd);
        return;
      case 'string':
        flags[f.name] = raw;
        return;
      case 'list': {
        const cur = flags[f.name] as string[];
        // A list flag given explicitly replaces its default on first use.
        flags[f.name] = listSeen.has(f.name) ? [...cur, raw] : [raw];
        listSeen.add(f.name);
        return;
      }
      case 'int': {
        if (!/^[+-]?\d+$/.test(raw.trim())) {
          throw E.CliInvalidFlagValue(raw, shown, `strconv.ParseInt: parsing "${raw}": invalid syntax`, cmd);
        }
        flags[f.name] = Number.parseInt(raw, 10);
        return;
      }
    }
  };

  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const f = byLong.get(name);
      if (!f) {
        if (name === 'help') {
          help = true;
          continue;
        }
        throw E.CliUnknownFlag(eq >= 0 ? a.slice(0, eq) : a, cmd);
      }
      if (eq >= 0) assign(f, a.slice(eq + 1), displayName(f));
      else if (f.kind === 'bool') assign(f, 'true', displayName(f));
      else {
        if (i + 1 >= argv.length) throw E.CliFlagNeedsArgument(`--${name}`, cmd);
        assign(f, argv[++i], displayName(f));
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // A cluster of shorthands: booleans until one takes a value (the rest, or the next arg).
      for (let j = 1; j < a.length; j++) {
        const ch = a[j];
        const f = byShort.get(ch);
        if (!f) {
          if (ch === 'h') {
            help = true;
            continue;
          }
          throw E.CliUnknownShorthand(ch, a, cmd);
        }
        if (f.kind === 'bool') {
          if (a[j + 1] === '=') {
            assign(f, a.slice(j + 2), displayName(f));
            break;
          }
          assign(f, 'true', displayName(f));
          continue;
        }
        let rest = a.slice(j + 1);
        if (rest.startsWith('=')) rest = rest.slice(1);
        if (rest.length > 0 || a[j + 1] === '=') assign(f, rest, displayName(f));
        else {
          if (i + 1 >= argv.length) throw E.CliFlagNeedsArgument(`-${ch}`, cmd);
          assign(f, argv[++i], displayName(f));
        }
        break;
      }
      continue;
    }
    args.push(a);
    if (opts.stopAtPositional) {
      i++;
      break;
    }
  }
  for (; i < argv.length; i++) args.push(argv[i]);
  return { flags, set, args, help };
}

/** The "Options:" block of --help for `specs`, aligned like docker's. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const rows = specs.map((f) => {
    const head = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    const val = f.kind === 'bool' ? '' : ` ${f.valueName ?? f.kind}`;
    const def =
      f.default !== undefined && f.default !== '' && f.default !== false ? ` (default ${JSON.stringify(f.default)})` : '';
    return [head + val, f.help + def];
  });
  const w = Math.max(0, ...rows.map((r) => r[0].length)) + 3;
  return rows.map(([l, r]) => l.padEnd(w) + r).join('\n');
}
