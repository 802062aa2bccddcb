import { closeSync, constants, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, watch, writeFileSync, writeSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@conga/common';

/**
 * Size-based rotation of a container log (docker's json-file max-size / max-file) while conmon
 * writes it. conmon 2.1.6 can only start its file afresh, so the executor rotates: it renames
 * `<log>` to `<log>.rotating` (conmon keeps writing to that inode), asks conmon to reopen its
 * log through the control fifo (`2 0 0`: conmon creates a new `<log>`), and once the new file
 * exists splits the closed one into whole-line pieces of at most `maxSize` bytes that become
 * `<log>.1` (newest) … `<log>.<maxFiles-1>`; older pieces are dropped. Nothing is lost between
 * the rename and the reopen, and the kept files never exceed the limit, however fast the
 * container writes (a line longer than the limit is a piece of its own). Internal to the executor.
 */
export interface LogLimits {
  /** The live log file conmon writes. */
  path: string;
  /** Rotate once the live file is larger than this (bytes, > 0). */
  maxSize: number;
  /** Files kept, the live one included (≥ 1). */
  maxFiles: number;
  /** conmon's control fifo (`<bundle>/ctl`). */
  ctl: string;
}

/** Name of the i-th rotated file (1 = newest). */
export const rotatedPath = (path: string, i: number) => `${path}.${i}`;

/** Split k8s-file text into pieces of whole lines of at most `max` bytes (oldest first). */
export function splitLines(buf: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  let end = 0; // end of the last whole line that fits in the current piece
  let pos = 0;
  while (pos < buf.length) {
    let nl = buf.indexOf(0x0a, pos);
    nl = nl < 0 ? buf.length : nl + 1;
    if (nl - start > max && end > start) {
      out.push(buf.subarray(start, end));
      start = end;
    }
    end = nl;
    pos = nl;
  }
  if (end > start) out.push(buf.subarray(start, end));
  return out;
}

/**
 * Put `pieces` (oldest first) in front of the rotated files: the newest piece becomes `.1`,
 * existing files shift up, whatever goes beyond `.maxFiles-1` is removed. With `live`, the
 * newest piece becomes the live file itself (the final pass after the container stopped).
 */
function shiftIn(l: LogLimits, pieces: Buffer[], live: boolean): void {
  const keep = l.maxFiles - 1;
  const newest = pieces.slice().reverse();
  if (live && newest.length) writeAtomic(l.path, newest.shift()!);
  const n = newest.length;
  for (let k = keep; k >= 1; k--) {
    const from = rotatedPath(l.path, k);
    if (!existsSync(from)) continue;
    if (k + n <= keep) renameSync(from, rotatedPath(l.path, k + n));
    else rmSync(from, { force: true });
  }
  for (let i = 0; i < n && i < keep; i++) writeAtomic(rotatedPath(l.path, i + 1), newest[i]);
}

function writeAtomic(path: string, data: Buffer): void {
  writeFileSync(`${path}.tmp`, data, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/** Ask conmon to reopen its log; false when no monitor listens on the fifo any more. */
function requestReopen(ctl: string): boolean {
  let fd: number;
  try {
    fd = openSync(ctl, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    writeSync(fd, '2 0 0\n');
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Rotates one task's log while its monitor runs; {@link finish} does the last pass. */
export class LogRotator {
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Set once the monitor did not reopen its log (it exited): only finish() rotates then. */
  private monitorGone = false;

  constructor(
    private readonly l: LogLimits,
    private readonly log: Logger,
  ) {}

  /** Watch the log's directory (and poll as a safety net); settles a rotation a crash interrupted. */
  start(): this {
    this.settleInterrupted();
    const name = basename(this.l.path);
    try {
      this.watcher = watch(dirname(this.l.path), (_e, f) => (!f || String(f) === name) && this.check());
      this.watcher.on('error', () => undefined);
    } catch {
      /* the poll alone */
    }
    this.poll = setInterval(() => this.check(), 500);
    this.poll.unref();
    this.check();
    return this;
  }

  /** Rotate if the live file is over the limit (coalesced: one rotation at a time). */
  check(): void {
    if (this.stopped || this.monitorGone) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (fileSize(this.l.path) <= this.l.maxSize) return;
    this.running = this.rotate()
      .catch((err) => this.log.warn({ err, path: this.l.path }, 'log rotation failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.check();
        }
      });
  }

  private async rotate(): Promise<void> {
    const rotating = `${this.l.path}.rotating`;
    renameSync(this.l.path, rotating);
    const asked = requestReopen(this.l.ctl);
    // conmon closes the old file before it creates the new one: once `<log>` exists again,
    // `.rotating` is complete.
    for (let i = 0; asked && i < 500 && !existsSync(this.l.path) && !this.stopped; i++) await sleep(10);
    if (!existsSync(this.l.path)) {
      // Not reopened: the file stays the live one. No monitor listens any more (it exited):
      // only finish() rotates from now on; else (a busy monitor) the next check tries again.
      renameSync(rotating, this.l.path);
      if (!asked) this.monitorGone = true;
      else this.log.warn({ path: this.l.path }, 'the monitor did not reopen its log within 5 s; will retry');
      return;
    }
    shiftIn(this.l, splitLines(readFileSync(rotating), this.l.maxSize), false);
    rmSync(rotating, { force: true });
  }

  /** A `.rotating` file left by a crash: its monitor may have written on into it, so it is older than the live file. */
  private settleInterrupted(): void {
    const rotating = `${this.l.path}.rotating`;
    if (!existsSync(rotating)) return;
    if (existsSync(this.l.path)) {
      shiftIn(this.l, splitLines(readFileSync(rotating), this.l.maxSize), false);
      rmSync(rotating, { force: true });
    } else renameSync(rotating, this.l.path);
  }

  /**
   * Stop watching and, the monitor being gone, bring the files within the limits: an
   * oversized live file is split, its newest piece staying the live file.
   */
  async finish(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    await this.running;
    this.settleInterrupted();
    if (fileSize(this.l.path) > this.l.maxSize) shiftIn(this.l, splitLines(readFileSync(this.l.path), this.l.maxSize), true);
  }

  /** Stop watching without touching the files (the executor is closing; the task runs on). */
  close(): void {
    this.stopped = true;
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
  }
}
