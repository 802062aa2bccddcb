import { execFile } from 'node:child_process';

/** What a finished external command printed. */
export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Run an external command (mount, umount, mknod, setfattr) without a shell. Rejects with an
 * Error whose message carries the command's stderr; callers wrap it into a catalog error.
 * Internal to libs/storage (owner: storage); may change freely.
 */
export function runCommand(file: string, args: string[], opts: { cwd?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: opts.cwd, encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const detail = (stderr || err.message).trim();
        reject(Object.assign(new Error(`${file} ${args.join(' ')}: ${detail}`), { stderr: detail, exitCode: (err as { code?: unknown }).code }));
      } else resolve({ stdout, stderr });
    });
  });
}
