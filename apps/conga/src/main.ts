/**
 * `conga` entry point: wires process streams, signals and the exit status to {@link runCli}.
 * Owner: CLI (apps/conga). Keep this file free of work at load time (start-up budget ~50 ms).
 */
import { runCli } from './cli';
import type { Io } from './commands/types';

function processIo(): Io {
  // A closed pipe (`conga ps | head -1`) is not an error worth a stack trace.
  const quiet = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  };
  process.stdout.on('error', quiet);
  process.stderr.on('error', quiet);
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    outTty: Boolean(process.stdout.isTTY),
    errTty: Boolean(process.stderr.isTTY),
    columns: process.stdout.columns || process.stderr.columns || 120,
  };
}

let current: ((sig: NodeJS.Signals) => void) | undefined;
const relay = (sig: NodeJS.Signals): void => current?.(sig);

function onSignal(handler: ((sig: NodeJS.Signals) => void) | undefined): void {
  current = handler;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.removeListener(sig, relay);
    if (handler) process.on(sig, relay);
  }
}

runCli(process.argv.slice(2), processIo(), process.env, onSignal).then(
  (code) => {
    onSignal(undefined);
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`conga: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
