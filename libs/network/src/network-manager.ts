import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { E, KeyedMutex, type Logger } from '@conga/common';
import type { CreateNetworkRequest, NetworkInfo } from '@conga/api';
import type { CniConfList } from './cni/types';
import { HOST_NETWORK, NONE_NETWORK, bridgeConfList, vlanConfList } from './network-configs';
import type { NetworkRegistry } from './network-registry';
import { firstHost, containsHost, formatCidr4, overlaps, parseCidr4, parseIp4, pickSubnet, type Cidr4 } from './subnet';
import { atomicWrite } from './util/atomic-write';
import { runCommand } from './util/run-command';

/** Conga's own facts about a network it created (`<dir>/networks/<name>.json`). */
interface NetworkMeta {
  kind: 'conga.network.v1';
  id: string;
  name: string;
  driver: string;
  created: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  internal: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const RESERVED = new Set([HOST_NETWORK, NONE_NETWORK, 'bridge', 'default']);
/** Where subnets of networks created without --subnet come from. */
const AUTO_POOL = parseCidr4('10.89.0.0/16');

function idOf(name: string): string {
  return createHash('sha256').update(`conga-network:${name}`).digest('hex');
}

/** The subnet and device a conflist declares (first plugin with an IPAM section). */
export function describeConfList(list: CniConfList): { driver: string; subnet: string; gateway: string; device: string } {
  const main = list.plugins.find((p) => p.ipam) ?? list.plugins[0];
  const ipam = (main?.ipam ?? {}) as { subnet?: string; gateway?: string; ranges?: { subnet?: string; gateway?: string }[][] };
  const r = ipam.ranges?.[0]?.[0];
  return {
    driver: main?.type ?? '',
    subnet: r?.subnet ?? ipam.subnet ?? '',
    gateway: r?.gateway ?? ipam.gateway ?? '',
    device: String(main?.bridge ?? main?.master ?? ''),
  };
}

/**
 * Networks: every conflist in the conf dir is one, plus "host" and "none". Networks created here
 * get a conflist written to the conf dir and a metadata file (id, driver, labels, options).
 * Creates are serialized (subnet overlap must be checked against every other network);
 * everything else is per network. Owned by the network service.
 */
export class NetworkManager {
  private readonly locks = new KeyedMutex();
  private readonly metaDir: string;

  constructor(
    dir: string,
    private readonly registry: NetworkRegistry,
    private readonly ipamDir: string,
    private readonly defaultName: string,
    private readonly firewall: boolean,
    private readonly log: Logger,
  ) {
    this.metaDir = join(dir, 'networks');
  }

  private async meta(name: string): Promise<NetworkMeta | undefined> {
    try {
      const m = JSON.parse(await readFile(join(this.metaDir, `${name}.json`), 'utf8')) as NetworkMeta;
      return m.kind === 'conga.network.v1' ? m : undefined;
    } catch {
      return undefined;
    }
  }

  private async info(name: string, list: CniConfList | undefined, users: (name: string) => string[]): Promise<NetworkInfo> {
    const base = { labels: {}, options: {}, internal: false, configPath: '', device: '', subnet: '', gateway: '', created: '', containerIds: users(name) };
    if (name === HOST_NETWORK) return { ...base, id: idOf(name), name, driver: 'host', builtin: true };
    if (name === NONE_NETWORK) return { ...base, id: idOf(name), name, driver: 'null', builtin: true };
    const m = await this.meta(name);
    const d = list ? describeConfList(list) : { driver: '', subnet: '', gateway: '', device: '' };
    const gateway = d.gateway || (d.subnet && d.driver === 'bridge' ? safeFirstHost(d.subnet) : '');
    return {
      ...base,
      id: m?.id ?? idOf(name),
      name,
      driver: m?.driver ?? d.driver,
      subnet: d.subnet,
      gateway,
      device: d.device,
      created: m?.created ?? '',
      labels: m?.labels ?? {},
      options: m?.options ?? {},
      internal: m?.internal ?? false,
      builtin: name === this.defaultName,
      configPath: this.registry.fileOf(name),
    };
  }

  /** Every network, host and none included, sorted by name. */
  async list(users: (name: string) => string[]): Promise<NetworkInfo[]> {
    await this.registry.reload();
    const out: NetworkInfo[] = [];
    for (const name of [HOST_NETWORK, NONE_NETWORK, ...this.registry.names()]) {
      const list = this.registry.get(name);
      if (list instanceof Error) continue;
      out.push(await this.info(name, list, users));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** By exact name, full id or unique id prefix; "bridge" means the default network. */
  async get(nameOrId: string, users: (name: string) => string[]): Promise<NetworkInfo> {
    const key = nameOrId === 'bridge' || nameOrId === 'default' ? this.defaultName : nameOrId;
    if (!key) throw E.InvalidArgument('a network name or id is required');
    const all = await this.list(users);
    const exact = all.find((n) => n.name === key || n.id === key);
    if (exact) return exact;
    if (/^[0-9a-f]{1,64}$/.test(key)) {
      const hits = all.filter((n) => n.id.startsWith(key));
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw E.AmbiguousId(key);
    }
    const broken = this.registry.get(key);
    if (broken instanceof Error) throw broken;
    throw E.NetworkNotFound(nameOrId);
  }

  /** docker network create. Nothing is written unless every check passed. */
  create(req: CreateNetworkRequest, users: (name: string) => string[]): Promise<NetworkInfo> {
    return this.locks.run('create', async () => {
      const name = req.name ?? '';
      if (!NAME.test(name)) throw E.InvalidArgument(`invalid network name "${name}": use 1-64 letters, digits, "_", "." or "-", starting with a letter or digit`);
      if (RESERVED.has(name) || name === this.defaultName) throw E.NetworkExists(name);
      const driver = req.driver || 'bridge';
      if (!['bridge', 'macvlan', 'ipvlan'].includes(driver)) throw E.InvalidArgument(`unsupported network driver "${driver}": use bridge, macvlan or ipvlan`);
      const options = { ...(req.options ?? {}) };
      const labels = { ...(req.labels ?? {}) };
      await this.registry.reload();
      if (this.registry.get(name) !== undefined) throw E.NetworkExists(name);
      // Overlap with every other network's subnet.
      const taken: { name: string; cidr: Cidr4; text: string }[] = [];
      for (const other of this.registry.names()) {
        const l = this.registry.get(other);
        if (!l || l instanceof Error) continue;
        const s = describeConfList(l).subnet;
        try {
          if (s) taken.push({ name: other, cidr: parseCidr4(s), text: s });
        } catch {
          // a foreign subnet we cannot parse (IPv6...): no overlap check against it
        }
      }
      let cidr: Cidr4;
      if (req.subnet) {
        cidr = parseCidr4(req.subnet);
        const hit = taken.find((t) => overlaps(t.cidr, cidr));
        if (hit) throw E.SubnetOverlap(req.subnet, hit.name, hit.text);
      } else {
        cidr = pickSubnet(AUTO_POOL, taken.map((t) => t.cidr));
      }
      const subnet = formatCidr4(cidr);
      let gateway = req.gateway ?? '';
      if (gateway) {
        const g = parseIp4(gateway);
        if (g === undefined || !containsHost(cidr, g)) throw E.InvalidArgument(`invalid gateway "${gateway}": it must be an address inside ${subnet}`);
      } else if (driver === 'bridge') gateway = firstHost(cidr);
      const mtu = options.mtu ?? options['com.docker.network.driver.mtu'];
      if (mtu !== undefined && !/^\d{3,5}$/.test(mtu)) throw E.InvalidArgument(`invalid mtu "${mtu}": expected a number like 1500`);
      const id = randomBytes(32).toString('hex');
      let list: CniConfList;
      if (driver === 'bridge') {
        const bridge = options['com.docker.network.bridge.name'] ?? `cg-${id.slice(0, 12)}`;
        if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw E.InvalidArgument(`invalid bridge name "${bridge}": use up to 15 letters, digits, "_", "." or "-"`);
        list = bridgeConfList({ name, bridge, subnet, gateway, ipamDir: this.ipamDir, firewall: this.firewall, internal: !!req.internal, mtu: mtu ? Number(mtu) : undefined });
      } else {
        const parent = options.parent || (await defaultRouteInterface());
        if (!parent) throw E.InvalidArgument(`the ${driver} driver needs a parent interface: pass -o parent=IFACE`);
        if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(parent) || (await runCommand('ip', ['link', 'show', 'dev', parent])).code !== 0) {
          throw E.InvalidArgument(`parent interface "${parent}" for the ${driver} network does not exist on this host`);
        }
        const mode = options[`${driver}_mode`] ?? options.mode;
        const modes = driver === 'macvlan' ? ['bridge', 'private', 'vepa', 'passthru'] : ['l2', 'l3', 'l3s'];
        if (mode !== undefined && !modes.includes(mode)) throw E.InvalidArgument(`invalid ${driver} mode "${mode}": use ${modes.join(', ')}`);
        options.parent = parent;
        list = vlanConfList({ name, driver: driver as 'macvlan' | 'ipvlan', parent, mode, subnet, gateway: gateway || undefined, ipamDir: this.ipamDir, internal: !!req.internal, mtu: mtu ? Number(mtu) : undefined });
      }
      const meta: NetworkMeta = { kind: 'conga.network.v1', id, name, driver, created: new Date().toISOString(), labels, options, internal: !!req.internal };
      await mkdir(this.metaDir, { recursive: true, mode: 0o700 });
      await atomicWrite(join(this.metaDir, `${name}.json`), JSON.stringify(meta, null, 2), 0o600);
      try {
        await this.registry.install(list);
      } catch (e) {
        await rm(join(this.metaDir, `${name}.json`), { force: true });
        throw e;
      }
      this.log.info({ network: name, driver, subnet }, 'network created');
      return this.info(name, list, users);
    });
  }

  /**
   * docker network rm: refused for built-in networks and while containers are attached
   * (`users` is checked again under the network's lock). Removes the conflist, the metadata,
   * the IPAM dir and the bridge device Conga made.
   */
  async remove(nameOrId: string, users: (name: string) => string[], busy: (name: string) => boolean): Promise<void> {
    const n = await this.get(nameOrId, users);
    if (n.builtin) throw E.NetworkBuiltin(n.name);
    await this.locks.run(`net:${n.name}`, async () => {
      const ids = users(n.name);
      if (ids.length > 0 || busy(n.name)) throw E.NetworkInUse(n.name, ids.map((i) => i.slice(0, 12)).join(', ') || '(starting)');
      const list = this.registry.get(n.name);
      await this.registry.uninstall(n.name);
      await rm(join(this.metaDir, `${n.name}.json`), { force: true });
      await rm(join(this.ipamDir, n.name), { recursive: true, force: true });
      if (list && !(list instanceof Error) && n.driver === 'bridge' && n.device) {
        const r = await runCommand('ip', ['link', 'del', n.device, 'type', 'bridge']);
        if (r.code !== 0 && !/Cannot find device/.test(r.stderr)) this.log.warn({ network: n.name, bridge: n.device, stderr: r.stderr }, 'deleting the bridge failed');
      }
      this.log.info({ network: n.name }, 'network removed');
    });
  }
}

function safeFirstHost(subnet: string): string {
  try {
    return firstHost(parseCidr4(subnet));
  } catch {
    return '';
  }
}

/** The interface of the host's default route (the default parent of macvlan/ipvlan). */
async function defaultRouteInterface(): Promise<string> {
  const r = await runCommand('ip', ['-4', 'route', 'show', 'default']).catch(() => undefined);
  return /\bdev (\S+)/.exec(r?.stdout ?? '')?.[1] ?? '';
}
