import { open, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';

/**
 * Reads a container log written by the monitor (conmon's k8s-file format, one line per record:
 * `<RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>`, P = partial line) and turns it into
 * records for the Engine API. json-file is served from this format too (as podman does).
 */
export interface LogRecord {
  stream: 'stdout' | 'stderr';
  time: string;
  /** Content including the trailing newline when the record ends a line. */
  data: string;
}

export function parseLogLine(line: string): LogRecord | undefined {
  const a = line.indexOf(' ');
  const b = a < 0 ? -1 : line.indexOf(' ', a + 1);
  const c = b < 0 ? -1 : line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return undefined;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  const content = c < 0 ? '' : line.slice(c + 1);
  return { stream, time: line.slice(0, a), data: tag.startsWith('P') ? content : content + '\n' };
}

export interface LogReadOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  /** Number of lines from the end, or undefined for all. */
  tail?: number;
  /** Unix seconds (fractional allowed); 0 = no bound. */
  since?: number;
  until?: number;
  signal?: AbortSignal;
  /** Resolves when the container has stopped (ends a follow). */
  stopped: Promise<unknown>;
}

/** Stream log records to `emit` until the file is read (or, when following, the container stops). */
export async function readLogs(path: string, opts: LogReadOptions, emit: (r: LogRecord) => void): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!opts.follow) return;
      // The monitor creates the file when the container starts; wait for it.
      await Promise.race([opts.stopped, new Promise((r) => setTimeout(r, 200))]);
      try {
        fh = await open(path, 'r');
      } catch {
        return;
      }
    } else throw e;
  }
  let stopped = false;
  void opts.stopped.then(() => (stopped = true));
  const wanted = (r: LogRecord) => {
    if (r.stream === 'stdout' ? !opts.stdout : !opts.stderr) return false;
    if (opts.since || opts.until) {
      const t = Date.parse(r.time) / 1000;
      if (opts.since && t < opts.since) return false;
      if (opts.until && t > opts.until) return false;
    }
    return true;
  };
  let offset = 0;
  let rest = '';
  const readMore = async (): Promise<LogRecord[]> => {
    const { size } = await fh.stat();
    if (size <= offset) return [];
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    offset += bytesRead;
    const text = rest + buf.subarray(0, bytesRead).toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    return lines.map(parseLogLine).filter((r): r is LogRecord => !!r && wanted(r));
  };
  let watcher: FSWatcher | undefined;
  try {
    let first = await readMore();
    if (opts.tail !== undefined) first = opts.tail <= 0 ? [] : tailLines(first, opts.tail);
    first.forEach(emit);
    if (!opts.follow) return;
    let wake: (() => void) | undefined;
    watcher = watch(path, () => wake?.());
    watcher.on('error', () => undefined);
    while (!opts.signal?.aborted) {
      const wasStopped = stopped;
      (await readMore()).forEach(emit);
      if (wasStopped) break;
      await new Promise<void>((r) => {
        wake = r;
        const t = setTimeout(r, 250);
        void opts.stopped.then(() => {
          clearTimeout(t);
          r();
        });
        opts.signal?.addEventListener('abort', () => r(), { once: true });
      });
    }
  } finally {
    watcher?.close();
    await fh.close();
  }
}

/** The last n lines (a line may span several partial records). */
function tailLines(records: LogRecord[], n: number): LogRecord[] {
  let lines = 0;
  let i = records.length;
  while (i > 0) {
    if (records[i - 1].data.endsWith('\n')) {
      if (lines === n) break;
      lines++;
    }
    i--;
  }
  return records.slice(i);
}

/** Docker's multiplexed stream frame (non-TTY attach/logs): [stream,0,0,0,len BE] + payload. */
export function frame(stream: 'stdout' | 'stderr', payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream === 'stdout' ? 1 : 2;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

export async function fileExists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
