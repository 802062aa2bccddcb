/**
 * Pull an image through POST /images/create and render its progress stream.
 * Shared by `pull` and `run` (which pulls to stderr). Owner: CLI (apps/conga).
 */
import type { ApiClient } from './client';
import { E } from './errors';
import { JsonStreamParser } from './json-stream';
import { ProgressRenderer, type JsonMessage } from './progress';
import type { ImageRef } from './reference';

export interface PullOutput {
  write(s: string): void;
  tty: boolean;
  columns: number;
  /** "os/arch[/variant]" to pick from a multi-platform image; default the daemon's. */
  platform?: string;
}

/** Pull `ref`; resolves when the stream ends cleanly, throws a catalog error otherwise. */
export async function pullImage(client: ApiClient, ref: ImageRef, out: PullOutput): Promise<void> {
  const res = await client.request('POST', '/images/create', {
    query: { fromImage: ref.repo, tag: ref.digest || ref.tag, ...(out.platform ? { platform: out.platform } : {}) },
  });
  const parser = new JsonStreamParser();
  const renderer = new ProgressRenderer(out.write, { tty: out.tty, columns: out.columns });
  res.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown): void => {
      if (failed) return;
      failed = true;
      res.destroy();
      reject(e);
    };
    res.on('data', (chunk: string) => {
      if (failed) return;
      try {
        for (const m of parser.push(chunk)) renderer.update(m as JsonMessage);
      } catch (e) {
        fail(e instanceof SyntaxError ? E.DaemonStreamError(`the daemon sent a malformed progress message: ${e.message}`) : e);
      }
    });
    res.on('end', () => {
      if (failed) return;
      if (parser.incomplete) fail(E.DaemonStreamError('the pull progress stream ended in the middle of a message'));
      else resolve();
    });
    res.on('aborted', () => fail(E.DaemonStreamError('the daemon closed the pull stream early')));
    res.on('error', fail);
  });
}
