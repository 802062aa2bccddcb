import { execFile } from 'node:child_process';
import { E } from '@conga/common';

/**
 * docker top: run the host's `ps` with the user's arguments (split on spaces, no shell) and keep
 * the rows whose PID column is one of `pids`. Owner: engine.
 */
export function runPs(psArgs: string, pids: number[]): Promise<{ Titles: string[]; Processes: string[][] }> {
  const args = psArgs.split(/\s+/).filter(Boolean);
  if (args.some((a) => a.length > 200)) throw E.InvalidArgument('ps arguments are too long');
  return new Promise((resolve, reject) => {
    execFile('ps', args, { timeout: 10_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(E.InvalidArgument(`Error running ps ${args.join(' ')}: ${String(stderr || err.message).trim()}: check the ps options`));
      try {
        resolve(parsePs(String(stdout), pids));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** Parse ps output: the header gives the columns; the last column may contain spaces. */
export function parsePs(out: string, pids: number[]): { Titles: string[]; Processes: string[][] } {
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  const titles = (lines[0] ?? '').trim().split(/\s+/);
  const pidCol = titles.indexOf('PID');
  if (pidCol < 0) throw E.InvalidArgument(`Couldn't find PID field in ps output: include the pid column in the ps options`);
  const want = new Set(pids);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    const row = [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
    if (want.has(Number(row[pidCol]))) processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}
