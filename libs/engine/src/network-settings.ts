import { E } from '@conga/common';
import type { AttachRequest, Attachment, EndpointRequest } from '@conga/api';
import type { ContainerRecord } from './container-types';

/**
 * Translation between Docker's container network fields (HostConfig.NetworkMode/PortBindings/
 * PublishAllPorts, Config.ExposedPorts, NetworkingConfig.EndpointsConfig) and the network
 * service's Attach/Attachment, plus Docker's NetworkSettings for inspect and ps.
 * Owned by the network service's engine side.
 */

/** Name of the default network (congad's; "bridge" and "default" mean it). */
export const DEFAULT_NETWORK = 'conga0';

/** Docker's per-network endpoint settings (create body NetworkingConfig, connect EndpointConfig). */
export interface EndpointSettings {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string } | null;
}

type PortBindings = Record<string, { HostIp?: string; HostPort?: string }[] | null>;

interface NetworkFields {
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointSettings> | null };
  NetworkSettings?: Record<string, unknown>;
  HostConfig: ContainerRecord['HostConfig'] & { PortBindings?: PortBindings | null; PublishAllPorts?: boolean };
  Config: ContainerRecord['Config'] & { ExposedPorts?: Record<string, unknown> | null; NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointSettings> | null } };
}

const view = (c: ContainerRecord) => c as ContainerRecord & NetworkFields;

/** The endpoint settings per network name the container asked for (create body or connect). */
export function endpointsOf(c: ContainerRecord): Record<string, EndpointSettings> {
  const v = view(c);
  return { ...(v.Config.NetworkingConfig?.EndpointsConfig ?? {}), ...(v.NetworkingConfig?.EndpointsConfig ?? {}) };
}

/** Record the settings for one network (connect) or drop them (disconnect). */
export function setEndpoint(c: ContainerRecord, network: string, s: EndpointSettings | undefined): void {
  const v = view(c);
  const all = endpointsOf(c);
  if (s) all[network] = s;
  else delete all[network];
  if (v.Config.NetworkingConfig) delete v.Config.NetworkingConfig;
  v.NetworkingConfig = { EndpointsConfig: all };
}

/** "80/tcp" → [80, "tcp"]; throws for anything else. */
export function parsePortKey(key: string): [number, string] {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(key);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw E.InvalidArgument(`invalid container port "${key}": expected PORT[/tcp|udp|sctp]`);
  return [Number(m[1]), m[2] ?? 'tcp'];
}

/**
 * Config.ExposedPorts of a new container: the image's EXPOSE merged with the request's (--expose,
 * -p), keys normalized to "PORT/proto", so -P publishes both. Empty when neither has any.
 */
export function mergeExposedPorts(image: Record<string, unknown> | null | undefined, request: Record<string, unknown> | null | undefined): { ExposedPorts?: Record<string, Record<string, never>> } {
  const out: Record<string, Record<string, never>> = {};
  for (const key of [...Object.keys(image ?? {}), ...Object.keys(request ?? {})]) {
    const [port, proto] = parsePortKey(key);
    out[`${port}/${proto}`] = {};
  }
  return Object.keys(out).length ? { ExposedPorts: out } : {};
}

/** Published ports from HostConfig.PortBindings, plus every exposed port with -P. */
export function portsOf(c: ContainerRecord): AttachRequest['ports'] {
  const v = view(c);
  const out: NonNullable<AttachRequest['ports']> = [];
  const bindings = v.HostConfig.PortBindings ?? {};
  for (const [key, list] of Object.entries(bindings)) {
    const [containerPort, protocol] = parsePortKey(key);
    for (const b of list?.length ? list : [{}]) {
      const hp = b.HostPort ?? '';
      if (hp !== '' && !/^\d{1,5}$/.test(hp)) throw E.InvalidArgument(`invalid host port "${hp}" for ${key}: a host port range for one container port is not supported; give one host port, or a container range of the same size (-p 8000-8002:80-82)`);
      out.push({ hostIp: b.HostIp ?? '', hostPort: hp === '' ? 0 : Number(hp), containerPort, protocol });
    }
  }
  if (v.HostConfig.PublishAllPorts) {
    for (const key of Object.keys(v.Config.ExposedPorts ?? {})) {
      if (key in bindings) continue;
      const [containerPort, protocol] = parsePortKey(key);
      out.push({ hostIp: '', hostPort: 0, containerPort, protocol });
    }
  }
  return out;
}

/** Check the network fields of a create body early (a bad -p fails create, not start). */
export function validateNetworkFields(c: ContainerRecord): void {
  portsOf(c);
  const mode = c.HostConfig.NetworkMode ?? '';
  if ((mode === 'host' || mode === 'none' || mode.startsWith('container:')) && portsOf(c)?.length) {
    // docker accepts and ignores them for host; refuse for none/container as docker does
    if (mode !== 'host') throw E.InvalidArgument(`conflicting options: port publishing and the container type network mode (${mode})`);
  }
}

/**
 * The network service request for starting `c` on `network` (the engine's resolved mode:
 * default network name, host, none, container:<full id>, or a user network).
 */
export function attachRequestFor(c: ContainerRecord, network: string, filesDir: string, defaultNetwork: string): AttachRequest {
  const eps = endpointsOf(c);
  const primaryKey = [network, c.HostConfig.NetworkMode ?? ''].find((k) => k && eps[k]);
  const primary = primaryKey ? eps[primaryKey] : undefined;
  const builtin = network === 'host' || network === 'none' || network.startsWith('container:');
  const more: EndpointRequest[] = builtin
    ? []
    : Object.entries(eps)
        .filter(([n]) => n !== network && n !== c.HostConfig.NetworkMode && !(network === defaultNetwork && (n === 'bridge' || n === 'default')))
        .map(([n, s]) => ({ network: n, aliases: s.Aliases ?? [], ipv4Address: s.IPAMConfig?.IPv4Address ?? '' }));
  return {
    containerId: c.Id,
    network,
    name: c.Name,
    hostname: c.Config.Hostname,
    filesDir,
    dns: c.HostConfig.Dns ?? [],
    dnsSearch: c.HostConfig.DnsSearch ?? [],
    extraHosts: c.HostConfig.ExtraHosts ?? [],
    aliases: primary?.Aliases ?? [],
    ipv4Address: primary?.IPAMConfig?.IPv4Address ?? '',
    ports: network === 'host' || builtin ? [] : portsOf(c),
    moreNetworks: more,
  };
}

/** Docker's NetworkSettings.Ports: {"80/tcp": [{HostIp, HostPort}] | null}. */
function portsMap(c: ContainerRecord, att: Attachment | undefined): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const key of Object.keys(view(c).Config.ExposedPorts ?? {})) out[key.includes('/') ? key : `${key}/tcp`] = null;
  for (const p of att?.ports ?? []) {
    const key = `${p.containerPort}/${p.protocol}`;
    (out[key] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  }
  return out;
}

function split(cidr: string | undefined): [string, number] {
  if (!cidr) return ['', 0];
  const [ip, len] = cidr.split('/');
  return [ip, Number(len ?? 0)];
}

/**
 * Docker's NetworkSettings for inspect: filled from the attachment while running; for a stopped
 * container the networks it asked for, without addresses.
 */
export function networkSettings(c: ContainerRecord, att: Attachment | undefined, defaultNetwork: string): Record<string, unknown> {
  const networks: Record<string, unknown> = {};
  const eps = endpointsOf(c);
  const endpoint = (name: string, itf?: Attachment['interfaces'][number]) => {
    const [ip, len] = split(itf?.addresses[0]);
    const s = eps[name] ?? (name === defaultNetwork ? eps.bridge : undefined);
    return {
      IPAMConfig: s?.IPAMConfig ?? null,
      Links: null,
      Aliases: itf?.aliases?.length ? itf.aliases : (s?.Aliases ?? null),
      NetworkID: '',
      EndpointID: itf ? `${c.Id.slice(0, 32)}${(itf.name || '').padEnd(8, '0').slice(0, 8)}` : '',
      Gateway: itf?.gateway ?? '',
      IPAddress: ip,
      IPPrefixLen: len,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      MacAddress: itf?.mac ?? '',
      DriverOpts: null,
    };
  };
  const mode = c.HostConfig.NetworkMode || 'default';
  if (att) {
    if (att.network === 'host' || att.network === 'none') networks[att.network] = endpoint(att.network);
    for (const itf of att.interfaces) if (!att.network.startsWith('container:')) networks[itf.network] = endpoint(itf.network, itf);
  } else if (!mode.startsWith('container:')) {
    const primary = mode === 'default' || mode === 'bridge' ? defaultNetwork : mode;
    networks[primary] = endpoint(primary);
    for (const n of Object.keys(eps)) if (n !== 'bridge' && n !== 'default' && !(n in networks)) networks[n] = endpoint(n);
  }
  const first = att && !att.network.startsWith('container:') ? att.interfaces[0] : undefined;
  const [ip, len] = split(first?.addresses[0]);
  return {
    Bridge: '',
    SandboxID: att?.netnsPath ? c.Id : '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: portsMap(c, att),
    SandboxKey: att?.netnsPath ?? '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: first ? `${c.Id.slice(0, 32)}${first.name.padEnd(8, '0').slice(0, 8)}` : '',
    Gateway: first?.gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: ip,
    IPPrefixLen: len,
    IPv6Gateway: '',
    MacAddress: first?.mac ?? '',
    Networks: networks,
  };
}

/** ps's Ports: [{IP, PrivatePort, PublicPort, Type}] (exposed-only ports without IP/PublicPort). */
export function summaryPorts(settings: Record<string, unknown> | undefined): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
  const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
  const ports = (settings?.Ports ?? {}) as Record<string, { HostIp: string; HostPort: string }[] | null>;
  for (const [key, list] of Object.entries(ports)) {
    const [port, proto] = key.split('/');
    if (!list?.length) out.push({ PrivatePort: Number(port), Type: proto });
    for (const b of list ?? []) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: proto });
  }
  return out;
}

/** The stored settings of a running container, else ones built from its configuration. */
export function settingsOf(c: ContainerRecord, defaultNetwork: string): Record<string, unknown> {
  const v = view(c);
  const running = c.State.Status === 'running' || c.State.Status === 'paused';
  return running && v.NetworkSettings ? v.NetworkSettings : networkSettings(c, undefined, defaultNetwork);
}

/** Remember the settings of a run (saved with the record by the caller). */
export function storeSettings(c: ContainerRecord, settings: Record<string, unknown>): void {
  view(c).NetworkSettings = settings;
}
