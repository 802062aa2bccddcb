/**
 * Copy a logs/attach response to stdout/stderr: demultiplexed for non-TTY containers, raw for TTY.
 * Shared by `logs` and `run`. Owner: CLI (apps/conga).
 */
import type { IncomingMessage } from 'node:http';
import type { Io } from './commands/types';
import { Demuxer } from './demux';
import { E } from './errors';

/** Resolves when the stream ends; a system-error frame (stream 3) rejects with its text. */
export function copyLogStream(res: IncomingMessage, io: Io, tty: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const demux = new Demuxer();
    let sysErr = '';
    res.on('data', (chunk: Buffer) => {
      if (tty) return io.out(chunk);
      for (const f of demux.push(chunk)) {
        if (f.stream === 2) io.err(f.data);
        else if (f.stream === 3) sysErr += f.data.toString('utf8');
        else io.out(f.data);
      }
    });
    res.on('end', () => (sysErr ? reject(E.DaemonStreamError(sysErr.trim())) : resolve()));
    res.on('aborted', () => resolve());
    res.on('error', (e) => reject(E.DaemonStreamError(`reading the log stream failed: ${e.message}`)));
  });
}
