/**
 * The -i/-t path of `conga run` (owner: exec/attach): attach with a hijacked connection before
 * start (so no output is lost), forward stdin, raw mode and window size on a terminal, then
 * exit with the container's status. Detaching (ctrl-p ctrl-q, watched by the daemon) leaves the
 * container running and exits 0.
 */
import { readText, type ApiClient, type PendingResponse } from '../client';
import { E, ExitStatus } from '../errors';
import { hijack, interact } from '../hijack';
import type { CommandContext } from './types';

interface WaitResponse {
  StatusCode?: number;
  Error?: { Message?: string } | null;
}

export async function runInteractive(
  ctx: CommandContext,
  client: ApiClient,
  id: string,
  start: () => Promise<void>,
  waitRemoved: PendingResponse | undefined,
): Promise<number> {
  const { flags } = ctx.parsed;
  const tty = Boolean(flags.tty);
  const stdin = Boolean(flags.interactive);
  const path = `/containers/${encodeURIComponent(id)}`;
  if (tty && stdin && !process.stdin.isTTY) {
    waitRemoved?.abort();
    await client.call('DELETE', path, { query: { force: 1 } }).catch(() => undefined);
    throw new ExitStatus(1, E.DaemonStreamError('the input device is not a TTY'), 'conga: ');
  }
  const h = await hijack(client, `${path}/attach`, { stream: 1, stdin: stdin ? 1 : 0, stdout: 1, stderr: 1, detachKeys: (flags['detach-keys'] as string) || undefined });
  try {
    await start();
  } catch (e) {
    h.socket.destroy();
    waitRemoved?.abort();
    throw e;
  }
  const resize = (rows: number, cols: number) => void client.call('POST', `${path}/resize`, { query: { h: rows, w: cols } }).catch(() => undefined);
  await interact(h, ctx.io, { tty, stdin, resize });
  const state = await client.json<{ State?: { Running?: boolean } }>('GET', `${path}/json`).catch(() => undefined);
  if (state?.State?.Running) {
    // Detached with the detach keys: the container keeps running.
    waitRemoved?.abort();
    return 0;
  }
  let res: WaitResponse;
  if (waitRemoved) {
    const text = await readText(await waitRemoved.response);
    res = text.trim() ? (JSON.parse(text) as WaitResponse) : {};
  } else res = (await client.json<WaitResponse>('POST', `${path}/wait`)) ?? {};
  if (res.Error?.Message) ctx.io.err(`conga: ${res.Error.Message}\n`);
  return typeof res.StatusCode === 'number' ? res.StatusCode : 0;
}
