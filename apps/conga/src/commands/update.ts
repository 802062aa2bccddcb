/** `conga update`: POST /containers/{id}/update with new limits or restart policy. Owner: CLI (apps/conga). */
import { E } from '../errors';
import { parseBytes, parseRestart } from './container-flags';
import { cpath, forEachContainer } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'update',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Update configuration of one or more containers',
  minArgs: 1,
  flags: [
    { name: 'blkio-weight', kind: 'int', valueName: 'uint16', help: 'Block IO (relative weight), between 10 and 1000, or 0 to disable' },
    { name: 'cpu-period', kind: 'int', valueName: 'int', help: 'Limit CPU CFS (Completely Fair Scheduler) period' },
    { name: 'cpu-quota', kind: 'int', valueName: 'int', help: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
    { name: 'cpu-shares', short: 'c', kind: 'int', valueName: 'int', help: 'CPU shares (relative weight)' },
    { name: 'cpus', kind: 'string', valueName: 'decimal', help: 'Number of CPUs' },
    { name: 'cpuset-cpus', kind: 'string', valueName: 'string', help: 'CPUs in which to allow execution (0-3, 0,1)' },
    { name: 'cpuset-mems', kind: 'string', valueName: 'string', help: 'MEMs in which to allow execution (0-3, 0,1)' },
    { name: 'memory', short: 'm', kind: 'string', valueName: 'bytes', help: 'Memory limit' },
    { name: 'memory-reservation', kind: 'string', valueName: 'bytes', help: 'Memory soft limit' },
    { name: 'memory-swap', kind: 'string', valueName: 'bytes', help: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
    { name: 'pids-limit', kind: 'int', valueName: 'int', help: 'Tune container pids limit (set -1 for unlimited)' },
    { name: 'restart', kind: 'string', valueName: 'string', help: 'Restart policy to apply when a container exits' },
  ],
};

export function run(ctx: CommandContext): Promise<number> {
  const { flags, set } = ctx.parsed;
  const cmd = 'conga update';
  const body: Record<string, unknown> = {};
  const bytes = (k: string, field: string) => {
    if (!set.has(k)) return;
    const v = flags[k] as string;
    const n = v === '-1' && k === 'memory-swap' ? -1 : parseBytes(v);
    if (n === undefined) throw E.CliInvalidFlagValue(v, `--${k}`, `invalid size: '${v}'`, cmd);
    body[field] = n;
  };
  bytes('memory', 'Memory');
  bytes('memory-swap', 'MemorySwap');
  bytes('memory-reservation', 'MemoryReservation');
  if (set.has('cpus')) {
    const n = Number(flags.cpus);
    if (!Number.isFinite(n) || n < 0) throw E.CliInvalidFlagValue(String(flags.cpus), '--cpus', 'failed to parse as a decimal number', cmd);
    body.NanoCpus = Math.round(n * 1e9);
  }
  const ints: [string, string][] = [['cpu-shares', 'CpuShares'], ['cpu-period', 'CpuPeriod'], ['cpu-quota', 'CpuQuota'], ['pids-limit', 'PidsLimit'], ['blkio-weight', 'BlkioWeight']];
  for (const [k, f] of ints) if (set.has(k)) body[f] = flags[k];
  for (const [k, f] of [['cpuset-cpus', 'CpusetCpus'], ['cpuset-mems', 'CpusetMems']]) if (set.has(k)) body[f] = flags[k];
  if (set.has('restart')) body.RestartPolicy = parseRestart(flags.restart as string, cmd);
  if (Object.keys(body).length === 0) throw E.InvalidArgument('you must provide one or more flags when using this command');
  const client = ctx.client();
  return forEachContainer(ctx, (id) => client.json('POST', cpath(id, 'update'), { body }));
}
