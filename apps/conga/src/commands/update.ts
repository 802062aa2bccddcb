/** `conga update`: POST /containers/{id}/update with new limits or restart policy. Owner: CLI (apps/conga). */
import { E } from '../errors';
import { CONTAINER_FLAGS, parseBytes, parseRestart } from './container-flags';

const UPDATABLE = new Set(['cpu-period', 'cpu-quota', 'cpu-shares', 'cpus', 'cpuset-cpus', 'cpuset-mems', 'memory', 'memory-reservation', 'memory-swap', 'pids-limit', 'restart']);
import { cpath, forEachContainer } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'update',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Update configuration of one or more containers',
  minArgs: 1,
  // The limit flags are run/create's own specs (one definition); blkio-weight is update's.
  flags: [
    { name: 'blkio-weight', kind: 'int', valueName: 'uint16', help: 'Block IO (relative weight), between 10 and 1000, or 0 to disable' },
    ...CONTAINER_FLAGS.filter((f) => UPDATABLE.has(f.name)),
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
