/**
 * The flags `conga run` and `conga create` share, and the POST /containers/create body they
 * make (docker's names, values and HostConfig fields). Owner: CLI (apps/conga). Pure apart from
 * reading --env-file, --label-file and a seccomp profile file.
 */
import { readFileSync } from 'node:fs';
import type { FlagSpec, Parsed } from '../args';
import { E } from '../errors';

export const CONTAINER_FLAGS: FlagSpec[] = [
  { name: 'cap-add', kind: 'list', valueName: 'list', help: 'Add Linux capabilities' },
  { name: 'cap-drop', kind: 'list', valueName: 'list', help: 'Drop Linux capabilities' },
  { name: 'cpu-period', kind: 'int', valueName: 'int', help: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpu-quota', kind: 'int', valueName: 'int', help: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-shares', short: 'c', kind: 'int', valueName: 'int', help: 'CPU shares (relative weight)' },
  { name: 'cpus', kind: 'string', valueName: 'decimal', help: 'Number of CPUs' },
  { name: 'cpuset-cpus', kind: 'string', valueName: 'string', help: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', kind: 'string', valueName: 'string', help: 'MEMs in which to allow execution (0-3, 0,1)' },
  { name: 'device', kind: 'list', valueName: 'list', help: 'Add a host device to the container' },
  { name: 'dns', kind: 'list', valueName: 'list', help: 'Set custom DNS servers' },
  { name: 'dns-search', kind: 'list', valueName: 'list', help: 'Set custom DNS search domains' },
  { name: 'entrypoint', kind: 'string', valueName: 'string', help: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'env', short: 'e', kind: 'list', valueName: 'list', help: 'Set environment variables' },
  { name: 'env-file', kind: 'list', valueName: 'list', help: 'Read in a file of environment variables' },
  { name: 'add-host', kind: 'list', valueName: 'list', help: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'health-cmd', kind: 'string', valueName: 'string', help: 'Command to run to check health' },
  { name: 'health-interval', kind: 'string', valueName: 'duration', help: 'Time between running the check (ms|s|m|h) (default 0s)' },
  { name: 'health-retries', kind: 'int', valueName: 'int', help: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-start-period', kind: 'string', valueName: 'duration', help: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)' },
  { name: 'health-timeout', kind: 'string', valueName: 'duration', help: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)' },
  { name: 'hostname', short: 'h', kind: 'string', valueName: 'string', help: 'Container host name' },
  { name: 'init', kind: 'bool', help: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'interactive', short: 'i', kind: 'bool', help: 'Keep STDIN open even if not attached' },
  { name: 'label', short: 'l', kind: 'list', valueName: 'list', help: 'Set meta data on a container' },
  { name: 'label-file', kind: 'list', valueName: 'list', help: 'Read in a line delimited file of labels' },
  { name: 'log-driver', kind: 'string', valueName: 'string', help: 'Logging driver for the container' },
  { name: 'log-opt', kind: 'list', valueName: 'list', help: 'Log driver options' },
  { name: 'memory', short: 'm', kind: 'string', valueName: 'bytes', help: 'Memory limit' },
  { name: 'memory-reservation', kind: 'string', valueName: 'bytes', help: 'Memory soft limit' },
  { name: 'memory-swap', kind: 'string', valueName: 'bytes', help: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'mount', kind: 'list', valueName: 'mount', help: 'Attach a filesystem mount to the container' },
  { name: 'name', kind: 'string', valueName: 'string', help: 'Assign a name to the container' },
  { name: 'network', kind: 'string', valueName: 'network', help: 'Connect a container to a network' },
  { name: 'network-alias', kind: 'list', valueName: 'list', help: 'Add network-scoped alias for the container' },
  { name: 'ip', kind: 'string', valueName: 'string', help: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'expose', kind: 'list', valueName: 'list', help: 'Expose a port or a range of ports' },
  { name: 'publish-all', short: 'P', kind: 'bool', help: 'Publish all exposed ports to random ports' },
  { name: 'no-healthcheck', kind: 'bool', help: 'Disable any container-specified HEALTHCHECK' },
  { name: 'pids-limit', kind: 'int', valueName: 'int', help: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'privileged', kind: 'bool', help: 'Give extended privileges to this container' },
  { name: 'publish', short: 'p', kind: 'list', valueName: 'list', help: "Publish a container's port(s) to the host" },
  { name: 'read-only', kind: 'bool', help: "Mount the container's root filesystem as read only" },
  { name: 'restart', kind: 'string', valueName: 'string', help: 'Restart policy to apply when a container exits', default: 'no' },
  { name: 'rm', kind: 'bool', help: 'Automatically remove the container when it exits' },
  { name: 'runtime', kind: 'string', valueName: 'string', help: 'Runtime to use for this container' },
  { name: 'security-opt', kind: 'list', valueName: 'list', help: 'Security Options' },
  { name: 'stop-signal', kind: 'string', valueName: 'string', help: 'Signal to stop the container' },
  { name: 'stop-timeout', kind: 'int', valueName: 'int', help: 'Timeout (in seconds) to stop a container' },
  { name: 'sysctl', kind: 'list', valueName: 'map', help: 'Sysctl options' },
  { name: 'system-container', kind: 'bool', help: 'Run systemd as init (cgroup and tmpfs mounts it needs), like iSulad' },
  { name: 'tmpfs', kind: 'list', valueName: 'list', help: 'Mount a tmpfs directory' },
  { name: 'tty', short: 't', kind: 'bool', help: 'Allocate a pseudo-TTY' },
  { name: 'ulimit', kind: 'list', valueName: 'ulimit', help: 'Ulimit options' },
  { name: 'user', short: 'u', kind: 'string', valueName: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'volume', short: 'v', kind: 'list', valueName: 'list', help: 'Bind mount a volume' },
  { name: 'workdir', short: 'w', kind: 'string', valueName: 'string', help: 'Working directory inside the container' },
];

/** "-m, --memory" for "--memory" (docker names flags with their shorthand in errors). */
function shown(flag: string): string {
  const f = CONTAINER_FLAGS.find((x) => `--${x.name}` === flag);
  return f?.short ? `-${f.short}, ${flag}` : flag;
}

const bad = (value: string, flag: string, why: string, cmd: string) => E.CliInvalidFlagValue(value, shown(flag), why, cmd);

/** docker's RAMInBytes: "512m", "1g", "1.5GB", "100000" (bytes); binary units. */
export function parseBytes(v: string): number | undefined {
  const m = v.trim().match(/^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i);
  if (!m) return undefined;
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.floor(Number(m[1]) * mult[m[2].toLowerCase()]);
}

/** Go duration ("1m30s", "500ms", "2s") in nanoseconds. */
export function parseDuration(v: string): number | undefined {
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of v.matchAll(re)) {
    const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
    total += Number(m[1]) * unit[m[2]];
    consumed += m[0].length;
  }
  return consumed === v.length && v.length > 0 ? Math.round(total) : undefined;
}

/** `-e K=V` as given; `-e K` takes K from the CLI's environment (dropped when unset), like docker. */
export function resolveEnv(list: string[], env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const e of list) {
    if (e.includes('=')) out.push(e);
    else if (env[e] !== undefined) out.push(`${e}=${env[e]}`);
  }
  return out;
}

function readLines(file: string, flag: string, cmd: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw bad(file, flag, `open ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`, cmd);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** docker's --mount CSV: type=bind,source=/a,target=/b,readonly,bind-propagation=rshared,tmpfs-size=… */
export function parseMount(v: string, cmd: string): Record<string, unknown> {
  const m: Record<string, any> = { Type: 'volume' };
  for (const field of v.split(',')) {
    const i = field.indexOf('=');
    const k = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? '' : field.slice(i + 1);
    switch (k) {
      case 'type':
        m.Type = val;
        break;
      case 'source':
      case 'src':
        m.Source = val;
        break;
      case 'target':
      case 'destination':
      case 'dst':
        m.Target = val;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = val === '' || val === 'true' || val === '1';
        break;
      case 'bind-propagation':
        m.BindOptions = { Propagation: val };
        break;
      case 'tmpfs-size': {
        const n = parseBytes(val);
        if (n === undefined) throw bad(v, '--mount', `invalid tmpfs-size "${val}"`, cmd);
        m.TmpfsOptions = { ...(m.TmpfsOptions ?? {}), SizeBytes: n };
        break;
      }
      case 'tmpfs-mode':
        m.TmpfsOptions = { ...(m.TmpfsOptions ?? {}), Mode: parseInt(val, 8) };
        break;
      case 'volume-nocopy':
        m.VolumeOptions = { NoCopy: true };
        break;
      default:
        throw bad(v, '--mount', `unexpected key '${k}' in '${field}'`, cmd);
    }
  }
  if (!m.Target) throw bad(v, '--mount', 'target is required', cmd);
  return m;
}

/** "on-failure:3" → RestartPolicy. */
export function parseRestart(v: string, cmd: string): { Name: string; MaximumRetryCount: number } {
  const [name, count] = v.split(':', 2);
  if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(name)) throw bad(v, '--restart', `invalid restart policy ${name}`, cmd);
  if (count !== undefined) {
    if (name !== 'on-failure') throw bad(v, '--restart', `maximum retry count cannot be used with restart policy '${name}'`, cmd);
    if (!/^\d+$/.test(count)) throw bad(v, '--restart', `maximum retry count must be an integer`, cmd);
  }
  return { Name: name, MaximumRetryCount: count ? Number(count) : 0 };
}

/** "nofile=1024:2048" → {Name, Soft, Hard}. */
export function parseUlimit(v: string, cmd: string): { Name: string; Soft: number; Hard: number } {
  const m = v.match(/^([a-z]+)=(-?\d+)(?::(-?\d+))?$/);
  if (!m) throw bad(v, '--ulimit', 'invalid ulimit argument: use NAME=SOFT[:HARD]', cmd);
  const soft = Number(m[2]);
  const hard = m[3] !== undefined ? Number(m[3]) : soft;
  return { Name: m[1], Soft: soft, Hard: hard };
}

/** "80" or "80-82" → [first, last]; a reversed range or a port outside 1-65535 is refused. */
function portRange(v: string, spec: string, flag: string, cmd: string): [number, number] {
  const [lo, hi = lo] = v.split('-').map(Number);
  if (!(lo >= 1 && hi <= 65535)) throw bad(spec, flag, `invalid port ${v}: ports must be 1-65535`, cmd);
  if (hi < lo) throw bad(spec, flag, `invalid port range ${v}: the end is lower than the start; write it as ${hi}-${lo}`, cmd);
  return [lo, hi];
}

/**
 * One -p value → [port key, binding] pairs, ranges expanded as docker does: `8000-8002:80-82`
 * binds 80→8000, 81→8001, 82→8002; `80-82` publishes each on a random port; a host range with one
 * container port is passed on as a range. Host and container ranges must be the same size.
 */
export function parsePublish(p: string, cmd: string): [string, { HostIp: string; HostPort: string }][] {
  const m = p.match(/^(?:(?:(\[[^\]]+\]|[\d.]+):)?(\d*(?:-\d+)?):)?(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/);
  if (!m) throw bad(p, '--publish', 'invalid port specification: use [ip:][hostPort:]containerPort[/proto]', cmd);
  const hostIp = (m[1] ?? '').replace(/^\[|\]$/g, '');
  const proto = m[4] ?? 'tcp';
  const [clo, chi] = portRange(m[3], p, '--publish', cmd);
  const host = m[2] ? portRange(m[2], p, '--publish', cmd) : undefined;
  if (host && chi > clo && host[1] - host[0] !== chi - clo) {
    throw bad(p, '--publish', `invalid ranges: host ports ${m[2]} and container ports ${m[3]} must have the same number of ports`, cmd);
  }
  const out: [string, { HostIp: string; HostPort: string }][] = [];
  for (let port = clo; port <= chi; port++) {
    const hostPort = !host ? '' : chi > clo ? String(host[0] + port - clo) : m[2];
    out.push([`${port}/${proto}`, { HostIp: hostIp, HostPort: hostPort }]);
  }
  return out;
}

/** The POST /containers/create body for parsed run/create flags (`args[0]` is the image). */
export function containerBody(parsed: Parsed, env: NodeJS.ProcessEnv, cmd: string): Record<string, unknown> {
  const { flags, args, set } = parsed;
  const str = (k: string) => flags[k] as string;
  const list = (k: string) => flags[k] as string[];
  const detach = Boolean(flags.detach);
  const ep = str('entrypoint');
  const envs: string[] = [];
  for (const f of list('env-file')) envs.push(...resolveEnv(readLines(f, '--env-file', cmd), env));
  envs.push(...resolveEnv(list('env'), env));
  const labels: Record<string, string> = {};
  for (const f of list('label-file')) for (const l of readLines(f, '--label-file', cmd)) labels[l.split('=')[0]] = l.includes('=') ? l.slice(l.indexOf('=') + 1) : '';
  for (const l of list('label')) labels[l.split('=')[0]] = l.includes('=') ? l.slice(l.indexOf('=') + 1) : '';
  const hc: Record<string, unknown> = { AutoRemove: Boolean(flags.rm) };
  const bytes = (k: string, field: string, allowMinus = false) => {
    if (!set.has(k)) return;
    const v = str(k);
    if (allowMinus && v === '-1') return void (hc[field] = -1);
    const n = parseBytes(v);
    if (n === undefined) throw bad(v, `--${k}`, `invalid size: '${v}'`, cmd);
    hc[field] = n;
  };
  bytes('memory', 'Memory');
  bytes('memory-swap', 'MemorySwap', true);
  bytes('memory-reservation', 'MemoryReservation');
  if (set.has('cpus')) {
    const n = Number(str('cpus'));
    if (!Number.isFinite(n) || n < 0 || !/^\d*\.?\d+$/.test(str('cpus'))) throw bad(str('cpus'), '--cpus', 'failed to parse as a decimal number', cmd);
    hc.NanoCpus = Math.round(n * 1e9);
  }
  if (set.has('cpu-shares')) hc.CpuShares = flags['cpu-shares'];
  if (set.has('cpu-period')) hc.CpuPeriod = flags['cpu-period'];
  if (set.has('cpu-quota')) hc.CpuQuota = flags['cpu-quota'];
  if (set.has('cpuset-cpus')) hc.CpusetCpus = str('cpuset-cpus');
  if (set.has('cpuset-mems')) hc.CpusetMems = str('cpuset-mems');
  if (set.has('pids-limit')) hc.PidsLimit = flags['pids-limit'];
  if (set.has('restart')) hc.RestartPolicy = parseRestart(str('restart'), cmd);
  if (flags.privileged) hc.Privileged = true;
  if (flags['read-only']) hc.ReadonlyRootfs = true;
  if (flags.init) hc.Init = true;
  if (flags['system-container']) hc.SystemContainer = true;
  if (str('runtime')) hc.Runtime = str('runtime');
  if (list('cap-add').length) hc.CapAdd = list('cap-add');
  if (list('cap-drop').length) hc.CapDrop = list('cap-drop');
  if (list('dns').length) hc.Dns = list('dns');
  if (list('dns-search').length) hc.DnsSearch = list('dns-search');
  if (list('add-host').length) hc.ExtraHosts = list('add-host');
  if (list('volume').length) hc.Binds = list('volume');
  if (list('mount').length) hc.Mounts = list('mount').map((m) => parseMount(m, cmd));
  if (list('tmpfs').length) {
    const t: Record<string, string> = {};
    for (const v of list('tmpfs')) {
      const i = v.indexOf(':');
      t[i < 0 ? v : v.slice(0, i)] = i < 0 ? '' : v.slice(i + 1);
    }
    hc.Tmpfs = t;
  }
  if (list('ulimit').length) hc.Ulimits = list('ulimit').map((u) => parseUlimit(u, cmd));
  if (list('sysctl').length) {
    const s: Record<string, string> = {};
    for (const v of list('sysctl')) {
      const i = v.indexOf('=');
      if (i <= 0) throw bad(v, '--sysctl', 'sysctl must look like KEY=VALUE', cmd);
      s[v.slice(0, i)] = v.slice(i + 1);
    }
    hc.Sysctls = s;
  }
  if (list('device').length) {
    hc.Devices = list('device').map((d) => {
      const [host, ctr, perms] = d.split(':');
      if (ctr && /^[rwm]+$/.test(ctr) && perms === undefined) return { PathOnHost: host, PathInContainer: host, CgroupPermissions: ctr };
      return { PathOnHost: host, PathInContainer: ctr || host, CgroupPermissions: perms || 'rwm' };
    });
  }
  if (list('security-opt').length) {
    hc.SecurityOpt = list('security-opt').map((o) => {
      const m = o.match(/^seccomp[=:](.+)$/);
      if (!m || m[1] === 'unconfined' || m[1].trim().startsWith('{')) return o;
      // Like docker: the client reads the profile file and sends its content.
      try {
        return `seccomp=${JSON.stringify(JSON.parse(readFileSync(m[1], 'utf8')))}`;
      } catch (e) {
        throw bad(o, '--security-opt', `opening seccomp profile (${m[1]}) failed: ${(e as Error).message}`, cmd);
      }
    });
  }
  if (str('network')) hc.NetworkMode = str('network');
  if (list('publish').length) {
    const pb: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of list('publish')) for (const [key, b] of parsePublish(p, cmd)) (pb[key] ??= []).push(b);
    hc.PortBindings = pb;
  }
  if (flags['publish-all']) hc.PublishAllPorts = true;
  const exposed: Record<string, Record<string, never>> = {};
  for (const k of Object.keys((hc.PortBindings as Record<string, unknown>) ?? {})) exposed[k] = {};
  for (const e of list('expose')) {
    const m = e.match(/^(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/);
    if (!m) throw bad(e, '--expose', 'invalid port: use PORT[-PORT][/tcp|udp|sctp]', cmd);
    const [lo, hi] = portRange(m[1], e, '--expose', cmd);
    for (let port = lo; port <= hi; port++) exposed[`${port}/${m[2] ?? 'tcp'}`] = {};
  }
  const aliases = list('network-alias');
  if ((aliases.length || str('ip')) && !str('network')) throw bad(aliases[0] ?? str('ip'), aliases.length ? '--network-alias' : '--ip', 'network-scoped aliases and fixed addresses need a user-defined --network', cmd);
  if (str('log-driver') || list('log-opt').length) {
    const cfg: Record<string, string> = {};
    for (const o of list('log-opt')) {
      const i = o.indexOf('=');
      if (i <= 0) throw bad(o, '--log-opt', 'log option must look like KEY=VALUE', cmd);
      cfg[o.slice(0, i)] = o.slice(i + 1);
    }
    hc.LogConfig = { Type: str('log-driver') || 'json-file', Config: cfg };
  }
  const body: Record<string, unknown> = {
    Image: args[0],
    Cmd: args.length > 1 ? args.slice(1) : null,
    Env: envs,
    Entrypoint: ep ? [ep] : set.has('entrypoint') ? [''] : null,
    WorkingDir: str('workdir'),
    User: str('user'),
    Hostname: str('hostname'),
    Labels: labels,
    AttachStdin: Boolean(flags.interactive) && !detach,
    AttachStdout: !detach,
    AttachStderr: !detach,
    OpenStdin: Boolean(flags.interactive),
    StdinOnce: Boolean(flags.interactive) && !detach,
    Tty: Boolean(flags.tty),
    HostConfig: hc,
  };
  if (Object.keys(exposed).length) body.ExposedPorts = exposed;
  if (aliases.length || str('ip')) {
    body.NetworkingConfig = { EndpointsConfig: { [str('network')]: { Aliases: aliases, ...(str('ip') ? { IPAMConfig: { IPv4Address: str('ip') } } : {}) } } };
  }
  if (set.has('stop-signal')) body.StopSignal = str('stop-signal');
  if (set.has('stop-timeout')) body.StopTimeout = flags['stop-timeout'];
  if (flags['no-healthcheck']) body.Healthcheck = { Test: ['NONE'] };
  else if (str('health-cmd') || set.has('health-interval') || set.has('health-retries') || set.has('health-timeout') || set.has('health-start-period')) {
    const dur = (k: string) => {
      if (!set.has(k)) return 0;
      const n = parseDuration(str(k));
      if (n === undefined) throw bad(str(k), `--${k}`, 'invalid duration', cmd);
      return n;
    };
    const h: Record<string, unknown> = { Interval: dur('health-interval'), Timeout: dur('health-timeout'), StartPeriod: dur('health-start-period'), Retries: flags['health-retries'] };
    if (str('health-cmd')) h.Test = ['CMD-SHELL', str('health-cmd')];
    body.Healthcheck = h;
  }
  return body;
}
