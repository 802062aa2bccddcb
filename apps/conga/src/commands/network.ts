/**
 * `conga network create|ls|inspect|rm|connect|disconnect|prune` over the Engine API's /networks
 * endpoints, with docker's flags and output. Owner: network service (apps/conga/src/commands).
 */
import { formatFlags, parseArgs, type FlagSpec, type Parsed } from '../args';
import { E, ExitStatus } from '../errors';
import { shortId } from '../humanize';
import { renderTable } from '../table';
import { labelFields, renderList } from '../list-format';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'network',
  usage: 'COMMAND',
  summary: 'Manage networks',
  stopAtPositional: true,
  flags: [],
};

interface Sub {
  usage: string;
  summary: string;
  flags: FlagSpec[];
  min: number;
  max?: number;
  run(ctx: CommandContext, p: Parsed): Promise<number>;
}

interface DockerNetwork {
  Id: string;
  Name: string;
  Driver: string;
  Scope?: string;
  Created?: string;
  EnableIPv6?: boolean;
  Internal?: boolean;
  Labels?: Record<string, string> | null;
}

/** Column names of network ls --format fields, as docker prints them. */
const LS_HEADERS: Record<string, string> = { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', Label: 'LABEL', CreatedAt: 'CREATED AT' };

const enc = encodeURIComponent;

/** "key=value" list flags as an object. */
function keyValues(list: string[], flag: string, cmd: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i === 0) throw E.CliInvalidFlagValue(kv, flag, 'expected KEY=VALUE', cmd);
    if (i < 0) out[kv] = '';
    else out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** docker's --filter k=v (repeated) as the filters query JSON. */
function filtersJson(list: string[], cmd: string): string | undefined {
  if (!list.length) return undefined;
  const f: Record<string, string[]> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw E.CliInvalidFlagValue(kv, '--filter', 'bad format of filter (expected name=value)', cmd);
    (f[kv.slice(0, i)] ??= []).push(kv.slice(i + 1));
  }
  return JSON.stringify(f);
}

function readLine(): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('utf8');
      if (buf.includes('\n')) done();
    };
    const done = () => {
      process.stdin.off('data', onData);
      process.stdin.off('end', done);
      process.stdin.pause();
      resolve(buf.split('\n')[0].trim());
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', done);
  });
}

const SUBS: Record<string, Sub> = {
  create: {
    usage: '[OPTIONS] NETWORK',
    summary: 'Create a network',
    min: 1,
    max: 1,
    flags: [
      { name: 'driver', short: 'd', kind: 'string', valueName: 'string', help: 'Driver to manage the Network (bridge, macvlan, ipvlan)', default: 'bridge' },
      { name: 'gateway', kind: 'list', valueName: 'strings', help: 'IPv4 Gateway for the master subnet' },
      { name: 'internal', kind: 'bool', help: 'Restrict external access to the network' },
      { name: 'label', kind: 'list', valueName: 'list', help: 'Set metadata on a network' },
      { name: 'opt', short: 'o', kind: 'list', valueName: 'map', help: 'Set driver specific options (parent=IFACE for macvlan/ipvlan)' },
      { name: 'subnet', kind: 'list', valueName: 'strings', help: 'Subnet in CIDR format that represents a network segment' },
    ],
    async run(ctx, p) {
      const cmd = 'conga network create';
      const subnets = p.flags.subnet as string[];
      const gateways = p.flags.gateway as string[];
      if (subnets.length > 1) throw E.CliInvalidFlagValue(subnets[1], '--subnet', 'only one subnet per network is supported', cmd);
      if (gateways.length > (subnets.length || 1)) throw E.CliInvalidFlagValue(gateways[gateways.length - 1], '--gateway', 'every gateway needs a --subnet', cmd);
      const cfg = subnets.length || gateways.length ? [{ ...(subnets[0] ? { Subnet: subnets[0] } : {}), ...(gateways[0] ? { Gateway: gateways[0] } : {}) }] : [];
      const body = {
        Name: p.args[0],
        Driver: p.flags.driver as string,
        Internal: Boolean(p.flags.internal),
        IPAM: { Driver: 'default', Config: cfg },
        Options: keyValues(p.flags.opt as string[], '--opt', cmd),
        Labels: keyValues(p.flags.label as string[], '--label', cmd),
        CheckDuplicate: true,
      };
      const r = await ctx.client().json<{ Id: string }>('POST', '/networks/create', { body });
      ctx.io.out(`${r.Id}\n`);
      return 0;
    },
  },
  ls: {
    usage: '[OPTIONS]',
    summary: 'List networks',
    min: 0,
    max: 0,
    flags: [
      { name: 'filter', short: 'f', kind: 'list', valueName: 'filter', help: "Provide filter values (e.g. 'driver=bridge')" },
      { name: 'format', kind: 'string', valueName: 'string', help: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template" },
      { name: 'no-trunc', kind: 'bool', help: 'Do not truncate the output' },
      { name: 'quiet', short: 'q', kind: 'bool', help: 'Only display network IDs' },
    ],
    async run(ctx, p) {
      const list = (await ctx.client().json<DockerNetwork[]>('GET', '/networks', { query: { filters: filtersJson(p.flags.filter as string[], 'conga network ls') } })) ?? [];
      list.sort((a, b) => a.Name.localeCompare(b.Name));
      const id = (n: DockerNetwork) => (p.flags['no-trunc'] ? n.Id : shortId(n.Id));
      const rows = list.map((n) => ({
        ID: id(n),
        Name: n.Name,
        Driver: n.Driver,
        Scope: n.Scope ?? 'local',
        IPv6: String(!!n.EnableIPv6),
        Internal: String(!!n.Internal),
        ...labelFields(n.Labels),
        CreatedAt: n.Created ? n.Created.replace('T', ' ').replace(/(\.\d+)?Z$/, ' +0000 UTC') : '',
      }));
      const formatted = p.flags.quiet ? undefined : renderList(p.flags.format as string | undefined, rows, LS_HEADERS);
      if (p.flags.quiet) ctx.io.out(list.map((n) => id(n) + '\n').join(''));
      else if (formatted !== undefined) ctx.io.out(formatted);
      else ctx.io.out(renderTable([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...list.map((n) => [id(n), n.Name, n.Driver, n.Scope ?? 'local'])]));
      return 0;
    },
  },
  inspect: {
    usage: '[OPTIONS] NETWORK [NETWORK...]',
    summary: 'Display detailed information on one or more networks',
    min: 1,
    flags: [],
    async run(ctx, p) {
      const out: unknown[] = [];
      let status = 0;
      for (const n of p.args) {
        try {
          out.push(await ctx.client().json('GET', `/networks/${enc(n)}`));
        } catch (e) {
          if (!E.DaemonNotFound.is(e)) throw e;
          ctx.io.err(`Error: No such network: ${n}\n`);
          status = 1;
        }
      }
      ctx.io.out(JSON.stringify(out, null, 4) + '\n');
      return status;
    },
  },
  rm: {
    usage: 'NETWORK [NETWORK...]',
    summary: 'Remove one or more networks',
    min: 1,
    flags: [{ name: 'force', short: 'f', kind: 'bool', help: 'Do not error if the network does not exist' }],
    async run(ctx, p) {
      let status = 0;
      for (const n of p.args) {
        try {
          await ctx.client().call('DELETE', `/networks/${enc(n)}`);
          ctx.io.out(`${n}\n`);
        } catch (e) {
          if (p.flags.force && E.DaemonNotFound.is(e)) continue;
          if (!(e instanceof Error) || !('code' in e)) throw e;
          ctx.io.err(`${e.message}\n`);
          status = 1;
        }
      }
      return status;
    },
  },
  connect: {
    usage: '[OPTIONS] NETWORK CONTAINER',
    summary: 'Connect a container to a network',
    min: 2,
    max: 2,
    flags: [
      { name: 'alias', kind: 'list', valueName: 'strings', help: 'Add network-scoped alias for the container' },
      { name: 'ip', kind: 'string', valueName: 'string', help: 'IPv4 address (e.g., 172.30.100.104)' },
    ],
    async run(ctx, p) {
      const ip = p.flags.ip as string;
      const body = { Container: p.args[1], EndpointConfig: { Aliases: p.flags.alias as string[], IPAMConfig: ip ? { IPv4Address: ip } : null } };
      await ctx.client().call('POST', `/networks/${enc(p.args[0])}/connect`, { body });
      return 0;
    },
  },
  disconnect: {
    usage: '[OPTIONS] NETWORK CONTAINER',
    summary: 'Disconnect a container from a network',
    min: 2,
    max: 2,
    flags: [{ name: 'force', short: 'f', kind: 'bool', help: 'Force the container to disconnect from a network' }],
    async run(ctx, p) {
      await ctx.client().call('POST', `/networks/${enc(p.args[0])}/disconnect`, { body: { Container: p.args[1], Force: Boolean(p.flags.force) } });
      return 0;
    },
  },
  prune: {
    usage: '[OPTIONS]',
    summary: 'Remove all unused networks',
    min: 0,
    max: 0,
    flags: [
      { name: 'filter', kind: 'list', valueName: 'filter', help: "Provide filter values (e.g. 'until=<timestamp>')" },
      { name: 'force', short: 'f', kind: 'bool', help: 'Do not prompt for confirmation' },
    ],
    async run(ctx, p) {
      if (!p.flags.force) {
        ctx.io.out('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ');
        if (!/^y(es)?$/i.test(await readLine())) return 0;
      }
      const r = await ctx.client().json<{ NetworksDeleted?: string[] | null }>('POST', '/networks/prune', { query: { filters: filtersJson(p.flags.filter as string[], 'conga network prune') } });
      const names = r?.NetworksDeleted ?? [];
      if (names.length) ctx.io.out(`Deleted Networks:\n${names.join('\n')}\n`);
      return 0;
    },
  },
};

function help(): string {
  const names = Object.keys(SUBS);
  return ['', 'Usage:  conga network COMMAND', '', 'Manage networks', '', 'Commands:', ...names.map((n) => `  ${n.padEnd(12)}${SUBS[n].summary}`), '', "Run 'conga network COMMAND --help' for more information on a command.", ''].join('\n');
}

export async function run(ctx: CommandContext): Promise<number> {
  const [name, ...rest] = ctx.parsed.args;
  if (!name) {
    ctx.io.out(help());
    return 0;
  }
  const sub = Object.hasOwn(SUBS, name) ? SUBS[name] : undefined;
  if (!sub) throw new ExitStatus(1, E.CliUnknownCommand(`network ${name}`), '');
  const cmd = `conga network ${name}`;
  const p = parseArgs(rest, sub.flags, { command: cmd });
  if (p.help) {
    ctx.io.out(['', `Usage:  ${cmd} ${sub.usage}`, '', sub.summary, '', 'Options:', formatFlags(sub.flags), ''].join('\n'));
    return 0;
  }
  const n = p.args.length;
  const plural = (k: number) => `${k} argument${k === 1 ? '' : 's'}`;
  let rule = '';
  if (sub.max === 0 && n > 0) rule = 'accepts no arguments';
  else if (sub.max !== undefined && sub.min === sub.max && n !== sub.min) rule = `requires exactly ${plural(sub.min)}`;
  else if (n < sub.min) rule = `requires at least ${plural(sub.min)}`;
  if (rule) throw E.CliArgCount(cmd, rule, `${cmd} ${sub.usage}\n\n${sub.summary}`);
  return sub.run(ctx, p);
}
