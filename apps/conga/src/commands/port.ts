/** `conga port CONTAINER [PRIVATE_PORT[/PROTO]]`: published ports from inspect's NetworkSettings.Ports. Owner: CLI (apps/conga). */
import { E } from '../errors';
import { cpath } from './each';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'port',
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  summary: 'List port mappings or a specific mapping for the container',
  minArgs: 1,
  maxArgs: 2,
  flags: [],
};

type Ports = Record<string, { HostIp: string; HostPort: string }[] | null>;

export async function run(ctx: CommandContext): Promise<number> {
  const [id, want] = ctx.parsed.args;
  const c = await ctx.client().json<{ Id: string; NetworkSettings?: { Ports?: Ports }; HostConfig?: { PortBindings?: Ports } }>('GET', cpath(id, 'json'));
  const ports: Ports = c.NetworkSettings?.Ports ?? c.HostConfig?.PortBindings ?? {};
  const fmt = (b: { HostIp: string; HostPort: string }) => `${b.HostIp && b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp || '0.0.0.0'}:${b.HostPort}`;
  if (want) {
    const key = want.includes('/') ? want : `${want}/tcp`;
    const b = ports[key];
    if (!b?.length) throw E.InvalidArgument(`Error: No public port '${key}' published for ${id}`);
    for (const x of b) ctx.io.out(fmt(x) + '\n');
    return 0;
  }
  for (const [k, bs] of Object.entries(ports)) for (const b of bs ?? []) ctx.io.out(`${k} -> ${fmt(b)}\n`);
  return 0;
}
