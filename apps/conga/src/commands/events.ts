/** `conga events`: GET /events as docker's lines (or --format). Owner: CLI (apps/conga). */
import { renderTemplate } from '../go-template';
import { JsonStreamParser } from '../json-stream';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'events',
  usage: '[OPTIONS]',
  summary: 'Get real time events from the server',
  maxArgs: 0,
  flags: [
    { name: 'filter', short: 'f', kind: 'list', valueName: 'filter', help: 'Filter output based on conditions provided' },
    { name: 'format', kind: 'string', valueName: 'string', help: 'Format the output using the given Go template' },
    { name: 'since', kind: 'string', valueName: 'string', help: 'Show all events created since timestamp' },
    { name: 'until', kind: 'string', valueName: 'string', help: 'Stream events until this timestamp' },
  ],
};

interface Ev {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time: number;
  timeNano: number;
}

/** docker's default line: "2024-05-01T10:00:00.123456789Z container die ID (exitCode=0, image=..., name=...)". */
export function eventLine(e: Ev): string {
  const iso = new Date(Math.floor(e.timeNano / 1e6)).toISOString().replace(/\.\d{3}Z$/, '');
  const ns = String(e.timeNano % 1e9).padStart(9, '0');
  const attrs = Object.entries(e.Actor.Attributes ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`);
  return `${iso}.${ns}Z ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(', ')})` : ''}`;
}

/** `-f k=v` list → the filters JSON. */
export function filtersJson(list: string[]): string | undefined {
  if (!list.length) return undefined;
  const f: Record<string, string[]> = {};
  for (const x of list) {
    const i = x.indexOf('=');
    const k = i < 0 ? x : x.slice(0, i);
    (f[k] ??= []).push(i < 0 ? '' : x.slice(i + 1));
  }
  return JSON.stringify(f);
}

export async function run(ctx: CommandContext): Promise<number> {
  const { flags } = ctx.parsed;
  const ac = new AbortController();
  ctx.onSignal(() => ac.abort());
  try {
    const res = await ctx.client().request('GET', '/events', {
      query: { since: (flags.since as string) || undefined, until: (flags.until as string) || undefined, filters: filtersJson(flags.filter as string[]) },
      signal: ac.signal,
    });
    const p = new JsonStreamParser();
    const fmt = flags.format as string;
    res.setEncoding('utf8');
    try {
      for await (const chunk of res) {
        for (const o of p.push(chunk as string)) ctx.io.out((fmt ? renderTemplate(fmt, o) : eventLine(o as Ev)) + '\n');
      }
    } catch (e) {
      if (!ac.signal.aborted) throw e;
    }
  } finally {
    ctx.onSignal(undefined);
  }
  return 0;
}
