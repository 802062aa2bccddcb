/** `conga info`: GET /info as docker's text. Owner: CLI (apps/conga). */
import { bytesSize } from '../humanize';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = { name: 'info', usage: '[OPTIONS]', summary: 'Display system-wide information', maxArgs: 0, flags: [] };

/** The subset of GET /info this command shows (docker's SystemInfo). */
export interface SystemInfo {
  ID?: string;
  Containers?: number;
  ContainersRunning?: number;
  ContainersPaused?: number;
  ContainersStopped?: number;
  Images?: number;
  ServerVersion?: string;
  Driver?: string;
  DriverStatus?: [string, string][] | null;
  LoggingDriver?: string;
  CgroupDriver?: string;
  CgroupVersion?: string;
  Runtimes?: Record<string, unknown>;
  DefaultRuntime?: string;
  KernelVersion?: string;
  OperatingSystem?: string;
  OSType?: string;
  Architecture?: string;
  NCPU?: number;
  MemTotal?: number;
  Name?: string;
  DockerRootDir?: string;
  Debug?: boolean;
  ExperimentalBuild?: boolean;
  LiveRestoreEnabled?: boolean;
  RegistryConfig?: { IndexConfigs?: Record<string, { Secure?: boolean; Mirrors?: string[] }>; InsecureRegistryCIDRs?: string[] };
  Warnings?: string[] | null;
}

/** The text docker prints for `info` (client part first). */
export function formatInfo(i: SystemInfo): string {
  const lines: string[] = ['Client:', ' Context:    default', ' Debug Mode: false', '', 'Server:'];
  const kv = (k: string, v: unknown, indent = ' '): void => {
    if (v !== undefined && v !== null && v !== '') lines.push(`${indent}${k}: ${v}`);
  };
  kv('Containers', i.Containers ?? 0);
  kv('Running', i.ContainersRunning ?? 0, '  ');
  kv('Paused', i.ContainersPaused ?? 0, '  ');
  kv('Stopped', i.ContainersStopped ?? 0, '  ');
  kv('Images', i.Images ?? 0);
  kv('Server Version', i.ServerVersion);
  kv('Storage Driver', i.Driver);
  for (const [k, v] of i.DriverStatus ?? []) kv(k, v, '  ');
  kv('Logging Driver', i.LoggingDriver);
  kv('Cgroup Driver', i.CgroupDriver);
  kv('Cgroup Version', i.CgroupVersion);
  if (i.Runtimes) kv('Runtimes', Object.keys(i.Runtimes).join(' '));
  kv('Default Runtime', i.DefaultRuntime);
  kv('Kernel Version', i.KernelVersion);
  kv('Operating System', i.OperatingSystem);
  kv('OSType', i.OSType);
  kv('Architecture', i.Architecture);
  kv('CPUs', i.NCPU);
  if (i.MemTotal !== undefined) kv('Total Memory', bytesSize(i.MemTotal));
  kv('Name', i.Name);
  kv('ID', i.ID);
  kv('Conga Root Dir', i.DockerRootDir);
  kv('Debug Mode', i.Debug === undefined ? undefined : String(i.Debug));
  kv('Experimental', i.ExperimentalBuild === undefined ? undefined : String(i.ExperimentalBuild));
  const insecure = [
    ...Object.entries(i.RegistryConfig?.IndexConfigs ?? {})
      .filter(([, c]) => c.Secure === false)
      .map(([n]) => n),
    ...(i.RegistryConfig?.InsecureRegistryCIDRs ?? []),
  ];
  if (insecure.length) lines.push(' Insecure Registries:', ...insecure.map((r) => `  ${r}`));
  const mirrors = Object.values(i.RegistryConfig?.IndexConfigs ?? {}).flatMap((c) => c.Mirrors ?? []);
  if (mirrors.length) lines.push(' Registry Mirrors:', ...[...new Set(mirrors)].map((m) => `  ${m}`));
  kv('Live Restore Enabled', i.LiveRestoreEnabled === undefined ? undefined : String(i.LiveRestoreEnabled));
  return lines.join('\n') + '\n';
}

export async function run(ctx: CommandContext): Promise<number> {
  const info = (await ctx.client().json<SystemInfo>('GET', '/info')) ?? {};
  ctx.io.out(formatInfo(info));
  for (const w of info.Warnings ?? []) ctx.io.err(w + '\n');
  return 0;
}
