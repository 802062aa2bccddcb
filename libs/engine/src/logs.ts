import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
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

/**
 * Unix seconds of an RFC 3339 time with every fraction digit (Date.parse keeps milliseconds
 * only): clients pass `since`/`until` as "seconds.nanoseconds" taken from these timestamps, and
 * the same decimal text must compare equal.
 */
export function unixSeconds(time: string): number {
  const frac = /\.(\d+)/.exec(time);
  const whole = Math.floor(Date.parse(time) / 1000);
  return frac ? Number(`${whole}.${frac[1]}`) : whole;
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

/** Rotated files of a log that are kept (max-file), oldest first: `<log>.N` … `<log>.1`. */
async function rotatedFiles(path: string): Promise<string[]> {
  const out: string[] = [];
  // `.rotating` is the newest: the executor is splitting it into `.1`, `.2`, … right now.
  for (let i = 1; ; i++) {
    const p = `${path}.${i}`;
    if (!(await fileExists(p))) break;
    out.unshift(p);
  }
  if (await fileExists(`${path}.rotating`)) out.push(`${path}.rotating`);
  return out;
}

/** The records of the kept rotated files, oldest first. */
async function readRotated(path: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const f of await rotatedFiles(path)) {
    try {
      for (const line of (await readFile(f, 'utf8')).split('\n')) {
        const r = parseLogLine(line);
        if (r) out.push(r);
      }
    } catch {
      /* rotated away meanwhile */
    }
  }
  return out;
}

/**
 * Stream log records to `emit` until the file is read (or, when following, the container stops).
 * Rotated files (`--log-opt max-file`) come first, oldest first; a follow moves on to the new
 * file once the monitor reopened it after a rotation.
 */
export async function readLogs(path: string, opts: LogReadOptions, emit: (r: LogRecord) => void): Promise<void> {
  const older = await readRotated(path);
  let fh: FileHandle;
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
      const t = unixSeconds(r.time);
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
    return lines.map(parseLogLine).filter((r): r is LogRecord => !!r);
  };
  // The newest record seen (its time, and how many records carry that time), so that a follow
  // catching up after rotations skips what it already sent.
  let lastTime = '';
  let sameCount = 0;
  const track = (r: LogRecord) => {
    if (r.time === lastTime) sameCount++;
    else {
      lastTime = r.time;
      sameCount = 1;
    }
  };
  const deliver = (records: LogRecord[], skipSeen = false) => {
    let skip = skipSeen ? sameCount : 0;
    for (const r of records) {
      if (skipSeen && r.time < lastTime) continue;
      if (skipSeen && r.time === lastTime && skip > 0) {
        skip--;
        continue;
      }
      skipSeen = false;
      track(r);
      if (wanted(r)) emit(r);
    }
  };
  let watcher: FSWatcher | undefined;
  try {
    const all = [...older, ...(await readMore())];
    all.forEach(track);
    let first = all.filter(wanted);
    if (opts.tail !== undefined) first = opts.tail <= 0 ? [] : tailLines(first, opts.tail);
    first.forEach(emit);
    if (!opts.follow) return;
    let wake: (() => void) | undefined;
    const watchLive = () => {
      watcher?.close();
      watcher = watch(path, () => wake?.());
      watcher.on('error', () => undefined);
    };
    watchLive();
    while (!opts.signal?.aborted) {
      const wasStopped = stopped;
      deliver(await readMore());
      // Rotated: once a new file is at `path`, the one held is complete. Several rotations may
      // have happened since the last look: catch up from every kept file, then follow the new one.
      const now = await stat(path).catch(() => undefined);
      if (now && now.ino !== (await fh.stat()).ino) {
        deliver(await readMore());
        const next = await openSettled(path);
        if (!next) {
          // Mid-rotation (no live file for a moment): look again shortly.
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        await fh.close();
        fh = next.fh;
        offset = 0;
        rest = '';
        deliver([...next.kept, ...(await readMore())], true);
        watchLive();
        continue;
      }
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

/**
 * Open the live log and read the kept files older than it, as one consistent picture: when a
 * rotation moved things meanwhile (the live file is no longer the one opened), try again, so
 * the kept files are exactly those before the opened one (no gap, no duplicate). Undefined when
 * there is no live file for now (renamed, not yet reopened by the monitor).
 */
async function openSettled(path: string): Promise<{ fh: FileHandle; kept: LogRecord[] } | undefined> {
  for (let attempt = 0; attempt < 50; attempt++) {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const kept = await readRotated(path);
    const [opened, live] = await Promise.all([fh.stat(), stat(path).catch(() => undefined)]);
    if (live?.ino === opened.ino) return { fh, kept };
    await fh.close();
  }
  return undefined;
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
