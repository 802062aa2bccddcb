/**
 * `conga run`: create (pulling the image if the daemon does not have it), start, then either print
 * the id (-d) or stream the output and exit with the container's status. Owner: CLI (apps/conga).
 *
 * Attached mode opens POST /attach?stream=1 before start (as docker does, so no output is lost;
 * the response is a plain HTTP stream, no connection upgrade), falling back to GET /logs?follow=1
 * after start when the daemon has no attach endpoint. With --rm, HostConfig.AutoRemove is set and
 * POST /wait?condition=removed is sent before start; otherwise /wait is asked after the stream ends.
 * Exit codes follow docker: 125 when the run fails before the container starts, 126/127 when the
 * command cannot be invoked / found, else the container's exit status.
 */
import type { IncomingMessage } from 'node:http';
import { readText, type ApiClient, type PendingResponse } from '../client';
import { CongaError, E, ExitStatus } from '../errors';
import { copyLogStream } from '../log-stream';
import { pullImage } from '../pull-image';
import { familiar, parseRef } from '../reference';
import type { CommandContext, CommandSpec } from './types';
import { CONTAINER_FLAGS, containerBody } from './container-flags';

export const spec: CommandSpec = {
  name: 'run',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Run a command in a new container',
  stopAtPositional: true,
  minArgs: 1,
  flags: [{ name: 'detach', short: 'd', kind: 'bool' as const, help: 'Run container in background and print container ID' }, ...CONTAINER_FLAGS].sort((a, b) => a.name.localeCompare(b.name)),
};

/** The POST /containers/create body for the parsed flags (see container-flags.ts). */
export function createBody(ctx: Pick<CommandContext, 'parsed'>, env: NodeJS.ProcessEnv, autoRemove: boolean): Record<string, unknown> {
  const body = containerBody(ctx.parsed, env, 'conga run');
  (body.HostConfig as Record<string, unknown>).AutoRemove = autoRemove;
  return body;
}

/** docker's exit status for a failed start: 127 not found, 126 not executable, else 125. */
export function startFailureStatus(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

interface CreateResponse {
  Id: string;
  Warnings?: string[] | null;
}

interface WaitResponse {
  StatusCode?: number;
  Error?: { Message?: string } | null;
}

function asConga(e: unknown): CongaError {
  return e instanceof CongaError ? e : E.DaemonStreamError(String((e as Error)?.message ?? e));
}

async function create(ctx: CommandContext, client: ApiClient, body: Record<string, unknown>): Promise<CreateResponse> {
  const name = (ctx.parsed.flags.name as string) || undefined;
  const post = () => client.json<CreateResponse>('POST', '/containers/create', { query: { name }, body });
  try {
    return await post();
  } catch (e) {
    if (!E.DaemonNotFound.is(e)) throw e;
  }
  const ref = parseRef(ctx.parsed.args[0]);
  ctx.io.err(`Unable to find image '${familiar(ref)}' locally\n`);
  await pullImage(client, ref, { write: (s) => ctx.io.err(s), tty: ctx.io.errTty, columns: ctx.io.columns });
  return post();
}

async function removeQuietly(client: ApiClient, id: string): Promise<void> {
  await client.call('DELETE', `/containers/${encodeURIComponent(id)}`, { query: { force: 1 } }).catch(() => undefined);
}

export async function run(ctx: CommandContext): Promise<number> {
  const { flags } = ctx.parsed;
  const detach = Boolean(flags.detach);
  const rm = Boolean(flags.rm);
  let client: ApiClient;
  let created: CreateResponse;
  try {
    const body = createBody(ctx, process.env, rm);
    client = ctx.client();
    created = await create(ctx, client, body);
  } catch (e) {
    throw new ExitStatus(125, asConga(e), 'conga: ');
  }
  const id = created.Id;
  const path = `/containers/${encodeURIComponent(id)}`;
  for (const w of created.Warnings ?? []) ctx.io.err(`WARNING: ${w}\n`);

  const start = async (): Promise<void> => {
    try {
      await client.call('POST', `${path}/start`);
    } catch (e) {
      if (rm) await removeQuietly(client, id);
      const err = asConga(e);
      throw new ExitStatus(startFailureStatus(err.message), err, 'conga: ');
    }
  };

  if (detach) {
    await start();
    ctx.io.out(id + '\n');
    return 0;
  }

  // Ask for the removal before start, so a fast container cannot be gone before we wait.
  let waitRemoved: PendingResponse | undefined;
  if (rm) {
    waitRemoved = client.start('POST', `${path}/wait`, { query: { condition: 'removed' } });
    waitRemoved.response.catch(() => undefined);
    await Promise.race([waitRemoved.sent, waitRemoved.response.then(noop, noop)]);
  }
  // -i/-t: a hijacked, two-way attach (run-interactive.ts).
  if (flags.interactive || flags.tty) {
    const { runInteractive } = await import('./run-interactive');
    return runInteractive(ctx, client, id, start, waitRemoved);
  }
  // Attach before start; its headers may only come with the first output, so do not wait for them.
  const attach = client.start('POST', `${path}/attach`, { query: { stream: 1, stdout: 1, stderr: 1 } });
  attach.response.catch(() => undefined);
  await Promise.race([attach.sent, attach.response.then(noop, noop)]);
  ctx.onSignal((sig) => {
    void client.call('POST', `${path}/kill`, { query: { signal: sig } }).catch(() => undefined);
  });
  try {
    try {
      await start();
    } catch (e) {
      attach.abort();
      waitRemoved?.abort();
      throw e;
    }
    let attached: IncomingMessage | undefined;
    try {
      attached = await attach.response;
    } catch (e) {
      // No attach endpoint (404/501): fall back to following the logs.
      if (!E.DaemonNotFound.is(e) && !E.DaemonError.is(e)) throw e;
    }
    if (attached) await copyLogStream(attached, ctx.io, false);
    else {
      try {
        const logs = await client.request('GET', `${path}/logs`, { query: { follow: 1, stdout: 1, stderr: 1 } });
        await copyLogStream(logs, ctx.io, false);
      } catch (e) {
        // Logs of a container that is already gone are lost, not fatal: its status still counts.
        if (!E.DaemonNotFound.is(e)) throw e;
      }
    }
    let res: WaitResponse;
    if (waitRemoved) {
      const text = await readText(await waitRemoved.response);
      res = text.trim() ? (JSON.parse(text) as WaitResponse) : {};
    } else res = (await client.json<WaitResponse>('POST', `${path}/wait`)) ?? {};
    if (res.Error?.Message) ctx.io.err(`conga: ${res.Error.Message}\n`);
    return typeof res.StatusCode === 'number' ? res.StatusCode : 0;
  } finally {
    ctx.onSignal(undefined);
  }
}

function noop(): void {}
