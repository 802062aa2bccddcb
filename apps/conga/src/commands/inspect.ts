/** `conga inspect`: containers (then images, volumes) as docker's JSON array, or --format per object. Owner: CLI (apps/conga). */
import { renderTemplate } from '../go-template';
import { E, messageFor } from '../errors';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'inspect',
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  summary: 'Return low-level information on Conga objects',
  minArgs: 1,
  flags: [
    { name: 'format', short: 'f', kind: 'string', valueName: 'string', help: 'Format output using a custom template' },
    { name: 'size', short: 's', kind: 'bool', help: 'Display total file sizes if the type is container' },
    { name: 'type', kind: 'string', valueName: 'string', help: 'Return JSON for specified type' },
  ],
};

const PATHS: Record<string, (n: string) => string> = {
  container: (n) => `/containers/${encodeURIComponent(n)}/json`,
  image: (n) => `/images/${encodeURIComponent(n)}/json`,
  volume: (n) => `/volumes/${encodeURIComponent(n)}`,
};

export async function run(ctx: CommandContext): Promise<number> {
  const client = ctx.client();
  const { flags, args } = ctx.parsed;
  const type = flags.type as string;
  if (type && !PATHS[type]) throw E.InvalidArgument(`"${type}" is not a valid value for --type`);
  const kinds = type ? [type] : ['container', 'image', 'volume'];
  const found: unknown[] = [];
  let status = 0;
  for (const name of args) {
    let obj: unknown;
    let lastErr: unknown;
    for (const k of kinds) {
      try {
        obj = await client.json('GET', PATHS[k](name));
        break;
      } catch (e) {
        lastErr = e;
        if (!E.DaemonNotFound.is(e)) break;
      }
    }
    if (obj === undefined) {
      status = 1;
      ctx.io.err((E.DaemonNotFound.is(lastErr) ? `Error: No such object: ${name}` : messageFor(lastErr)) + '\n');
      continue;
    }
    found.push(obj);
  }
  const fmt = flags.format as string;
  if (fmt) for (const o of found) ctx.io.out(renderTemplate(fmt, o) + '\n');
  else ctx.io.out(JSON.stringify(found, null, 4) + '\n');
  return status;
}
