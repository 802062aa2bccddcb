/** `conga volume create|ls|inspect|rm|prune`: named local volumes. Owner: CLI (apps/conga). */
import { humanSize } from '../humanize';
import { renderTable } from '../table';
import { renderTemplate } from '../go-template';
import { labelFields, renderList } from '../list-format';
import { messageFor } from '../errors';
import { filtersJson } from './events';
import { runGroup } from './group';
import type { CommandContext, CommandModule, CommandSpec } from './types';

export const spec: CommandSpec = { name: 'volume', usage: 'COMMAND', summary: 'Manage volumes', stopAtPositional: true, flags: [] };

interface Volume { Name: string; Driver: string; Mountpoint: string; Labels: Record<string, string> }

/** Column names of volume ls --format fields, as docker prints them. */
const LS_HEADERS: Record<string, string> = { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Label: 'LABEL', Links: 'LINKS', Size: 'SIZE' };

const create: CommandModule = {
  spec: {
    name: 'create', usage: '[OPTIONS] [VOLUME]', summary: 'Create a volume', maxArgs: 1,
    flags: [
      { name: 'driver', short: 'd', kind: 'string', valueName: 'string', help: 'Specify volume driver name', default: 'local' },
      { name: 'label', kind: 'list', valueName: 'list', help: 'Set metadata for a volume' },
      { name: 'name', kind: 'string', valueName: 'string', help: 'Specify volume name' },
      { name: 'opt', short: 'o', kind: 'list', valueName: 'map', help: 'Set driver specific options' },
    ],
  },
  async run(ctx) {
    const { flags, args } = ctx.parsed;
    const labels: Record<string, string> = {};
    for (const l of flags.label as string[]) labels[l.split('=')[0]] = l.includes('=') ? l.slice(l.indexOf('=') + 1) : '';
    const opts: Record<string, string> = {};
    for (const o of flags.opt as string[]) opts[o.split('=')[0]] = o.slice(o.indexOf('=') + 1);
    const v = await ctx.client().json<Volume>('POST', '/volumes/create', { body: { Name: args[0] || (flags.name as string) || '', Driver: flags.driver, Labels: labels, DriverOpts: opts } });
    ctx.io.out(v.Name + '\n');
    return 0;
  },
};

const ls: CommandModule = {
  spec: {
    name: 'ls', usage: '[OPTIONS]', summary: 'List volumes', maxArgs: 0,
    flags: [
      { name: 'filter', short: 'f', kind: 'list', valueName: 'filter', help: "Provide filter values (e.g. 'dangling=true')" },
      { name: 'format', kind: 'string', valueName: 'string', help: 'Format output using a custom template' },
      { name: 'quiet', short: 'q', kind: 'bool', help: 'Only display volume names' },
    ],
  },
  async run(ctx) {
    const { flags } = ctx.parsed;
    const r = await ctx.client().json<{ Volumes: Volume[] | null }>('GET', '/volumes', { query: { filters: filtersJson(flags.filter as string[]) } });
    const vols = r.Volumes ?? [];
    if (flags.quiet) ctx.io.out(vols.map((v) => v.Name + '\n').join(''));
    else {
      const rows = vols.map((v) => ({ Name: v.Name, Driver: v.Driver, Scope: 'local', Mountpoint: v.Mountpoint, ...labelFields(v.Labels), Links: 'N/A', Size: 'N/A' }));
      ctx.io.out(renderList(flags.format as string | undefined, rows, LS_HEADERS) ?? renderTable([['DRIVER', 'VOLUME NAME'], ...vols.map((v) => [v.Driver, v.Name])]));
    }
    return 0;
  },
};

const inspect: CommandModule = {
  spec: { name: 'inspect', usage: '[OPTIONS] VOLUME [VOLUME...]', summary: 'Display detailed information on one or more volumes', minArgs: 1, flags: [{ name: 'format', short: 'f', kind: 'string', valueName: 'string', help: 'Format output using a custom template' }] },
  async run(ctx) {
    const out: Volume[] = [];
    let status = 0;
    for (const n of ctx.parsed.args) {
      try {
        out.push(await ctx.client().json<Volume>('GET', `/volumes/${encodeURIComponent(n)}`));
      } catch (e) {
        ctx.io.err(messageFor(e) + '\n');
        status = 1;
      }
    }
    const fmt = ctx.parsed.flags.format as string;
    ctx.io.out(fmt ? out.map((v) => renderTemplate(fmt, v) + '\n').join('') : JSON.stringify(out, null, 4) + '\n');
    return status;
  },
};

const rm: CommandModule = {
  spec: { name: 'rm', usage: '[OPTIONS] VOLUME [VOLUME...]', summary: 'Remove one or more volumes', minArgs: 1, flags: [{ name: 'force', short: 'f', kind: 'bool', help: 'Force the removal of one or more volumes' }] },
  async run(ctx) {
    let status = 0;
    for (const n of ctx.parsed.args) {
      try {
        await ctx.client().call('DELETE', `/volumes/${encodeURIComponent(n)}`, { query: { force: ctx.parsed.flags.force ? 1 : undefined } });
        ctx.io.out(n + '\n');
      } catch (e) {
        ctx.io.err(messageFor(e) + '\n');
        status = 1;
      }
    }
    return status;
  },
};

const prune: CommandModule = {
  spec: { name: 'prune', usage: '[OPTIONS]', summary: 'Remove unused local volumes', maxArgs: 0, flags: [{ name: 'all', short: 'a', kind: 'bool', help: 'Remove all unused volumes' }, { name: 'filter', kind: 'list', valueName: 'filter', help: "Provide filter values (e.g. 'label=<label>')" }, { name: 'force', short: 'f', kind: 'bool', help: 'Do not prompt for confirmation' }] },
  async run(ctx) {
    const r = await ctx.client().json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters: filtersJson(ctx.parsed.flags.filter as string[]) } });
    const names = r.VolumesDeleted ?? [];
    if (names.length) ctx.io.out(`Deleted Volumes:\n${names.join('\n')}\n\n`);
    ctx.io.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};

export function run(ctx: CommandContext): Promise<number> {
  const mods: Record<string, CommandModule> = { create, inspect, ls, list: ls, prune, rm, remove: rm };
  const subs = Object.fromEntries(Object.entries(mods).map(([k, m]) => [k, async () => m]));
  return runGroup(ctx, 'volume', 'Manage volumes', subs, { create: create.spec.summary, inspect: inspect.spec.summary, ls: ls.spec.summary, prune: prune.spec.summary, rm: rm.spec.summary });
}
