import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { E } from './errors';

/** `-o FILE` or standard output for a tar (save, export); never a terminal. Call before the request. */
export function archiveTarget(output: unknown, outTty: boolean): string {
  const out = String(output ?? '');
  if (!out && outTty) throw E.InvalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  return out;
}

/** Write `res` to `out` (written aside and renamed, so a failure leaves no partial file) or to stdout. */
export async function writeArchive(res: Readable, out: string): Promise<void> {
  if (!out) return pipeline(res, process.stdout);
  const tmp = `${out}.conga-tmp-${process.pid}`;
  try {
    await pipeline(res, createWriteStream(tmp, { mode: 0o644 }));
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
