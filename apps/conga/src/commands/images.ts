/** `conga images`: GET /images/json as docker's table. Owner: CLI (apps/conga). */
import { humanSize, shortId, timeAgo } from '../humanize';
import { renderTable } from '../table';
import { createdAt, labelFields, renderList, type FormatRow } from '../list-format';
import { E } from '../errors';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'images',
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  maxArgs: 1,
  flags: [
    { name: 'all', short: 'a', kind: 'bool', help: 'Show all images (default hides intermediate images)' },
    { name: 'digests', kind: 'bool', help: 'Show digests' },
    { name: 'no-trunc', kind: 'bool', help: "Don't truncate output" },
    { name: 'quiet', short: 'q', kind: 'bool', help: 'Only show image IDs' },
    { name: 'filter', short: 'f', kind: 'list', help: 'Filter output based on conditions provided (dangling=, reference=, label=, before=, since=)' },
    { name: 'format', kind: 'string', valueName: 'string', help: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
  ],
};

/** The subset of GET /images/json items the table shows. */
export interface ImageSummary {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created?: number;
  Size?: number;
  Containers?: number;
  Labels?: Record<string, string> | null;
}

/** Column names of the --format fields, as docker's images prints them. */
const HEADERS: Record<string, string> = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE',
  Containers: 'CONTAINERS', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Labels: 'LABELS', Label: 'LABEL',
};

interface Row {
  repo: string;
  tag: string;
  digest: string;
  image: ImageSummary;
}

function splitTag(t: string): [string, string] {
  const i = t.lastIndexOf(':');
  return i > t.lastIndexOf('/') ? [t.slice(0, i), t.slice(i + 1)] : [t, '<none>'];
}

/** One row per repo:tag; untagged images show their digests' repos or <none>. */
export function imageRows(list: ImageSummary[]): Row[] {
  const rows: Row[] = [];
  for (const img of list) {
    const digests = new Map<string, string>();
    for (const d of img.RepoDigests ?? []) {
      const at = d.indexOf('@');
      if (at > 0) digests.set(d.slice(0, at), d.slice(at + 1));
    }
    const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    if (tags.length === 0) {
      if (digests.size === 0) rows.push({ repo: '<none>', tag: '<none>', digest: '<none>', image: img });
      for (const [repo, digest] of digests) rows.push({ repo, tag: '<none>', digest, image: img });
      continue;
    }
    for (const t of tags) {
      const [repo, tag] = splitTag(t);
      rows.push({ repo, tag, digest: digests.get(repo) ?? '<none>', image: img });
    }
  }
  return rows;
}

/** docker's images table (header first). */
export function imagesTable(list: ImageSummary[], opts: { trunc: boolean; digests: boolean }, now = Date.now()): string[][] {
  const head = ['REPOSITORY', 'TAG', ...(opts.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
  const out = [head];
  for (const r of imageRows(list)) {
    out.push([
      r.repo,
      r.tag,
      ...(opts.digests ? [r.digest] : []),
      opts.trunc ? shortId(r.image.Id) : r.image.Id,
      r.image.Created ? timeAgo(r.image.Created, now) : 'N/A',
      humanSize(r.image.Size ?? 0, 3),
    ]);
  }
  return out;
}

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const query: Record<string, string | number | undefined> = { all: flags.all ? 1 : undefined };
  const filters: Record<string, Record<string, boolean>> = {};
  for (const f of (flags.filter as string[] | undefined) ?? []) {
    const i = f.indexOf('=');
    if (i < 1) throw E.InvalidArgument(`bad format of filter (expected name=value): ${f}`);
    (filters[f.slice(0, i)] ??= {})[f.slice(i + 1)] = true;
  }
  if (args[0]) (filters.reference ??= {})[args[0]] = true;
  if (Object.keys(filters).length) query.filters = JSON.stringify(filters);
  const list = (await ctx.client().json<ImageSummary[]>('GET', '/images/json', { query })) ?? [];
  const trunc = !flags['no-trunc'];
  if (flags.format && !flags.quiet) {
    const rows: FormatRow[] = imageRows(list).map((r) => ({
      ID: trunc ? shortId(r.image.Id) : r.image.Id,
      Repository: r.repo,
      Tag: r.tag,
      Digest: r.digest,
      CreatedSince: r.image.Created ? timeAgo(r.image.Created) : 'N/A',
      CreatedAt: createdAt(r.image.Created),
      Size: humanSize(r.image.Size ?? 0, 3),
      VirtualSize: humanSize(r.image.Size ?? 0, 3),
      SharedSize: 'N/A',
      UniqueSize: 'N/A',
      Containers: r.image.Containers === undefined || r.image.Containers < 0 ? 'N/A' : String(r.image.Containers),
      ...labelFields(r.image.Labels),
    }));
    const out = renderList(flags.format as string, rows, HEADERS);
    if (out !== undefined) {
      ctx.io.out(out);
      return 0;
    }
  }
  if (flags.quiet) {
    const seen = new Set<string>();
    for (const img of list) seen.add(trunc ? shortId(img.Id) : img.Id);
    ctx.io.out([...seen].map((id) => id + '\n').join(''));
    return 0;
  }
  ctx.io.out(renderTable(imagesTable(list, { trunc, digests: Boolean(flags.digests) })));
  return 0;
}
