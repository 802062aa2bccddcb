/**
 * What every command module exports, and what it gets to run. Owner: CLI (apps/conga).
 * A command module exports `spec` (flags, usage, arity) and `run(ctx)` returning the exit status.
 */
import type { ApiClient } from '../client';
import type { FlagSpec, Parsed } from '../args';

/** Static description of a command: drives parsing, arity checks and --help. */
export interface CommandSpec {
  name: string;
  /** After "conga <name> ", e.g. "[OPTIONS] IMAGE [COMMAND] [ARG...]". */
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Flags end at the first positional (docker run). */
  stopAtPositional?: boolean;
  minArgs?: number;
  /** Maximum positionals (undefined: no limit). */
  maxArgs?: number;
}

/** Where a command writes; tests and main share it. */
export interface Io {
  out(s: string | Uint8Array): void;
  err(s: string | Uint8Array): void;
  outTty: boolean;
  errTty: boolean;
  columns: number;
}

/** Everything a command run gets. */
export interface CommandContext {
  parsed: Parsed;
  io: Io;
  /** The API client for the chosen host (created on first use; may throw for a bad -H). */
  client(): ApiClient;
  /** Add/remove a handler for SIGINT/SIGTERM while a command runs (run forwards them). */
  onSignal(handler: ((sig: NodeJS.Signals) => void) | undefined): void;
}

export interface CommandModule {
  spec: CommandSpec;
  run(ctx: CommandContext): Promise<number>;
}
