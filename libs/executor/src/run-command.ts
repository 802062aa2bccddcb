import { execFile } from 'node:child_process';

/** Result of {@link runCommand}. Internal to the executor. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program (no shell) and collect its output; never throws for a non-zero exit. */
export function runCommand(file: string, args: string[], timeoutMs = 60_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      let code = 0;
      if (e) code = typeof e.code === 'number' ? e.code : -1;
      const extra = e && typeof e.code !== 'number' ? `${e.message}\n` : '';
      resolve({ code, stdout: String(stdout), stderr: extra + String(stderr) });
    });
  });
}
