/** `conga version`: client part, then GET /version as docker's "Server:" block. Owner: CLI (apps/conga). */
import { API_VERSION } from '../client';
import { CLI_VERSION } from '../meta';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = { name: 'version', usage: '[OPTIONS]', summary: 'Show the Conga version information', maxArgs: 0, flags: [] };

/** The subset of GET /version this command shows. */
export interface VersionInfo {
  Version?: string;
  ApiVersion?: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os?: string;
  Arch?: string;
  KernelVersion?: string;
  BuildTime?: string;
  Experimental?: boolean;
  Components?: { Name: string; Version: string; Details?: Record<string, string> }[];
}

function block(indent: string, pairs: [string, string | undefined][]): string {
  const w = 18;
  return pairs
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${indent}${(k + ':').padEnd(w - indent.length + 1)}${v}\n`)
    .join('');
}

/** The "Client:" block. */
export function clientBlock(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return (
    'Client:\n' +
    block(' ', [
      ['Version', CLI_VERSION],
      ['API version', API_VERSION],
      ['Node version', process.version],
      ['OS/Arch', `${process.platform}/${arch}`],
    ])
  );
}

/** The "Server:" block for a /version answer. */
export function serverBlock(v: VersionInfo): string {
  let s = 'Server:\n Engine:\n';
  s += block('  ', [
    ['Version', v.Version],
    ['API version', v.ApiVersion ? `${v.ApiVersion}${v.MinAPIVersion ? ` (minimum version ${v.MinAPIVersion})` : ''}` : undefined],
    ['Go version', v.GoVersion],
    ['Git commit', v.GitCommit],
    ['Built', v.BuildTime],
    ['OS/Arch', v.Os || v.Arch ? `${v.Os ?? ''}/${v.Arch ?? ''}` : undefined],
    ['Kernel version', v.KernelVersion],
    ['Experimental', v.Experimental === undefined ? undefined : String(v.Experimental)],
  ]);
  for (const c of v.Components ?? []) {
    if (c.Name === 'Engine') continue;
    s += ` ${c.Name}:\n` + block('  ', [['Version', c.Version], ...Object.entries(c.Details ?? {}).map(([k, d]) => [k, d] as [string, string])]);
  }
  return s;
}

export async function run(ctx: CommandContext): Promise<number> {
  ctx.io.out(clientBlock() + '\n');
  const v = await ctx.client().json<VersionInfo>('GET', '/version');
  ctx.io.out(serverBlock(v ?? {}));
  return 0;
}
