import { E } from '@conga/common';

/** docker's default detach sequence: ctrl-p ctrl-q. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/**
 * Parse docker's `--detach-keys` format ("ctrl-p,ctrl-q", "a,ctrl-\\"): a comma-separated list of
 * single characters or ctrl-<a-z @ [ \ ] ^ _>. Throws E.InvalidDetachKeys. Owner: exec/attach.
 */
export function parseDetachKeys(spec: string | undefined): Buffer {
  const s = spec === undefined || spec === '' ? DEFAULT_DETACH_KEYS : spec;
  const out: number[] = [];
  for (const part of s.split(',')) {
    if (part.length === 1) out.push(part.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/.test(part)) {
      const ch = part[5];
      out.push(ch >= 'a' && ch <= 'z' ? ch.charCodeAt(0) - 96 : ch.charCodeAt(0) - 64);
    } else throw E.InvalidDetachKeys(s);
  }
  return Buffer.from(out);
}

/**
 * Watches an input stream for the detach sequence. `push` returns the bytes to forward (a
 * partial match is held back until it completes or breaks) and whether the sequence was typed.
 */
export class DetachDetector {
  private held = 0;
  constructor(private readonly keys: Buffer) {}

  push(chunk: Buffer): { forward: Buffer; detach: boolean } {
    if (!this.keys.length) return { forward: chunk, detach: false };
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      // Mismatch: release what was held, then retry this byte as a new start.
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]);
      this.held = 0;
      if (b === this.keys[0]) {
        this.held = 1;
        if (this.keys.length === 1) return { forward: Buffer.from(out), detach: true };
      } else out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}
