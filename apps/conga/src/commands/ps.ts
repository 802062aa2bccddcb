/** `conga ps`: GET /containers/json as docker's table. Owner: CLI (apps/conga). */
import { ellipsis, humanDuration, humanSize, shortId, timeAgo } from '../humanize';
import { createdAt, labelFields, renderList, type FormatRow } from '../list-format';
import { renderTable } from '../table';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'ps',
  usage: '[OPTIONS]',
  summary: 'List containers',
  maxArgs: 0,
  flags: [
    { name: 'all', short: 'a', kind: 'bool', help: 'Show all containers (default shows just running)' },
    { name: 'filter', short: 'f', kind: 'list', valueName: 'filter', help: 'Filter output based on conditions provided' },
    { name: 'last', short: 'n', kind: 'int', valueName: 'int', help: 'Show n last created containers (includes all states)', default: -1 },
    { name: 'latest', short: 'l', kind: 'bool', help: 'Show the latest created container (includes all states)' },
    { name: 'no-trunc', kind: 'bool', help: "Don't truncate output" },
    { name: 'format', kind: 'string', valueName: 'string', help: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
    { name: 'quiet', short: 'q', kind: 'bool', help: 'Only display container IDs' },
    { name: 'size', short: 's', kind: 'bool', help: 'Display total file sizes' },
  ],
};

/** The subset of GET /containers/json items the table shows. */
export interface ContainerSummary {
  Id: string;
  Names?: string[];
  Image?: string;
  Command?: string;
  Created?: number;
  State?: string;
  Status?: string;
  Ports?: { IP?: string; PrivatePort: number; PublicPort?: number; Type?: string }[];
  Labels?: Record<string, string> | null;
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts?: { Name?: string; Source?: string }[];
  NetworkSettings?: { Networks?: Record<string, unknown> | null };
}

/** Column names of the --format fields, as docker's ps prints them. */
const HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE',
  Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Label: 'LABEL', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES',
};

/** docker's "2B (virtual 4.3MB)" size cell. */
export function formatSize(c: ContainerSummary): string {
  if (c.SizeRw === undefined) return '';
  return `${humanSize(c.SizeRw ?? 0, 3)} (virtual ${humanSize(c.SizeRootFs ?? 0, 3)})`;
}

/** One container as docker's ps template fields. */
export function psFormatRow(c: ContainerSummary, trunc: boolean, now = Date.now()): FormatRow {
  const names = (c.Names ?? []).map((n) => n.replace(/^\//, '')).filter((n) => !trunc || !n.includes('/'));
  const mounts = (c.Mounts ?? []).map((m) => m.Name || m.Source || '');
  return {
    ID: trunc ? shortId(c.Id) : c.Id,
    Image: c.Image ?? '',
    Command: JSON.stringify(trunc ? ellipsis(c.Command ?? '', 20) : (c.Command ?? '')),
    CreatedAt: createdAt(c.Created),
    RunningFor: c.Created ? timeAgo(c.Created, now) : '',
    Ports: formatPorts(c.Ports),
    State: c.State ?? '',
    Status: formatStatus(c),
    Size: formatSize(c),
    Names: names.join(','),
    ...labelFields(c.Labels),
    Mounts: mounts.join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
    LocalVolumes: String(mounts.length),
  };
}

/** "0.0.0.0:8080->80/tcp, 53/udp". */
export function formatPorts(ports: ContainerSummary['Ports']): string {
  return (ports ?? [])
    .map((p) => {
      const proto = p.Type || 'tcp';
      if (p.PublicPort) return `${p.IP ? `${p.IP}:` : ''}${p.PublicPort}->${p.PrivatePort}/${proto}`;
      return `${p.PrivatePort}/${proto}`;
    })
    .join(', ');
}

/** The STATUS cell: the daemon's Status text, else one built from State. */
export function formatStatus(c: ContainerSummary): string {
  if (c.Status) return c.Status;
  if (c.State === 'running' && c.Created) return `Up ${humanDuration(Date.now() - c.Created * 1000)}`;
  const s = c.State ?? '';
  return s ? s[0].toUpperCase() + s.slice(1) : '';
}

/** docker's ps rows (header first). */
export function psRows(list: ContainerSummary[], trunc: boolean, now = Date.now()): string[][] {
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
  for (const c of list) {
    let image = c.Image ?? '';
    if (trunc && image.startsWith('sha256:')) image = shortId(image);
    const cmd = c.Command ?? '';
    let names = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
    if (trunc) names = names.filter((n) => !n.includes('/'));
    rows.push([
      trunc ? shortId(c.Id) : c.Id,
      image,
      JSON.stringify(trunc ? ellipsis(cmd, 20) : cmd),
      c.Created ? timeAgo(c.Created, now) : '',
      formatStatus(c),
      formatPorts(c.Ports),
      names.join(','),
    ]);
  }
  return rows;
}

export async function run(ctx: CommandContext): Promise<number> {
  const { flags } = ctx.parsed;
  const filters: Record<string, string[]> = {};
  for (const f of flags.filter as string[]) {
    const i = f.indexOf('=');
    (filters[i < 0 ? f : f.slice(0, i)] ??= []).push(i < 0 ? '' : f.slice(i + 1));
  }
  const last = flags.latest ? 1 : (flags.last as number);
  const format = flags.format as string | undefined;
  const withSize = !!flags.size || /\.Size\b/.test(format ?? '');
  const query = { all: flags.all || last > 0 ? 1 : undefined, size: withSize ? 1 : undefined, limit: last > 0 ? last : undefined, filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined };
  const list = (await ctx.client().json<ContainerSummary[]>('GET', '/containers/json', { query })) ?? [];
  const trunc = !flags['no-trunc'];
  if (flags.quiet) {
    ctx.io.out(list.map((c) => (trunc ? shortId(c.Id) : c.Id) + '\n').join(''));
    return 0;
  }
  const formatted = renderList(format, list.map((c) => psFormatRow(c, trunc)), HEADERS);
  if (formatted !== undefined) {
    ctx.io.out(formatted);
    return 0;
  }
  const rows = psRows(list, trunc);
  if (withSize) rows.forEach((r, i) => r.push(i === 0 ? 'SIZE' : formatSize(list[i - 1])));
  ctx.io.out(renderTable(rows));
  return 0;
}
