/**
 * `conga stats`: CPU %, memory, network and block I/O, pids per container, from
 * GET /containers/{id}/stats (docker's formulas). --no-stream prints one table. Owner: CLI (apps/conga).
 */
import { humanSize, bytesSize, shortId } from '../humanize';
import { renderTable } from '../table';
import { readText, type ApiClient } from '../client';
import { JsonStreamParser } from '../json-stream';
import { cpath } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'stats',
  usage: '[OPTIONS] [CONTAINER...]',
  summary: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    { name: 'all', short: 'a', kind: 'bool', help: 'Show all containers (default shows just running)' },
    { name: 'no-stream', kind: 'bool', help: 'Disable streaming stats and only pull the first result' },
    { name: 'no-trunc', kind: 'bool', help: "Don't truncate output" },
  ],
};

/** The subset of docker's stats JSON the table uses. */
export interface StatsJson {
  id: string;
  name: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  pids_stats?: { current?: number };
}

/** docker's row: CPU % from the two samples, memory minus page cache. */
export function statsRow(s: StatsJson, trunc: boolean): string[] {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const st = s.memory_stats?.stats ?? {};
  const cache = st.total_inactive_file ?? st.inactive_file ?? 0;
  const used = Math.max(0, (s.memory_stats?.usage ?? 0) - cache);
  const limit = s.memory_stats?.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let rd = 0;
  let wr = 0;
  for (const b of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (b.op.toLowerCase() === 'read') rd += b.value;
    if (b.op.toLowerCase() === 'write') wr += b.value;
  }
  return [
    trunc ? shortId(s.id) : s.id,
    s.name.replace(/^\//, ''),
    `${cpu.toFixed(2)}%`,
    `${bytesSize(used)} / ${bytesSize(limit)}`,
    `${limit ? ((used / limit) * 100).toFixed(2) : '0.00'}%`,
    `${humanSize(rx, 3)} / ${humanSize(tx, 3)}`,
    `${humanSize(rd, 3)} / ${humanSize(wr, 3)}`,
    String(s.pids_stats?.current ?? 0),
  ];
}

const HEADER = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];

async function targets(client: ApiClient, ctx: CommandContext): Promise<string[]> {
  if (ctx.parsed.args.length) return ctx.parsed.args;
  const list = await client.json<{ Id: string }[]>('GET', '/containers/json', { query: { all: ctx.parsed.flags.all ? 1 : undefined } });
  return list.map((c) => c.Id);
}

export async function run(ctx: CommandContext): Promise<number> {
  const client = ctx.client();
  const trunc = !ctx.parsed.flags['no-trunc'];
  const ids = await targets(client, ctx);
  if (ctx.parsed.flags['no-stream']) {
    const all = await Promise.all(ids.map((id) => client.json<StatsJson>('GET', cpath(id, 'stats'), { query: { stream: 0 } })));
    ctx.io.out(renderTable([HEADER, ...all.map((s) => statsRow(s, trunc))]));
    return 0;
  }
  const latest = new Map<string, StatsJson>();
  const ac = new AbortController();
  ctx.onSignal(() => ac.abort());
  const streams = ids.map(async (id) => {
    const res = await client.request('GET', cpath(id, 'stats'), { query: { stream: 1 }, signal: ac.signal });
    const p = new JsonStreamParser();
    res.setEncoding('utf8');
    for await (const chunk of res) for (const o of p.push(chunk as string)) latest.set(id, o as StatsJson);
  });
  const timer = setInterval(() => {
    const rows = ids.map((id) => latest.get(id)).filter((s): s is StatsJson => !!s);
    ctx.io.out((ctx.io.outTty ? '\x1b[2J\x1b[H' : '') + renderTable([HEADER, ...rows.map((s) => statsRow(s, trunc))]));
  }, 1000);
  try {
    await Promise.allSettled(streams);
  } finally {
    clearInterval(timer);
    ctx.onSignal(undefined);
  }
  void readText;
  return 0;
}
