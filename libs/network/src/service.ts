import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { E, KeyedMutex, newContext, type CallContext } from '@conga/common';
import type {
  Attachment, AttachRequest, DetachRequest, EndpointRequest, GetAttachmentRequest, ListAttachmentsRequest, ListAttachmentsResponse,
  NetInterface, NetworkService, PortMapping,
} from '@conga/api';
import { AttachmentStore } from './attachment-store';
import { addNetworkList, delNetworkList } from './cni/conflist';
import { CniResultCache, type CniCacheEntry } from './cni/result-cache';
import { resultFromLeases } from './cni/lease-result';
import type { CniConfList, CniExecOptions, CniResult } from './cni/types';
import {
  checkHostname, hostNetworkHostsFile, hostsFile, hostsFileWithPeers, parseExtraHosts, parseResolvConf, resolvConfFile, type PeerEntry,
} from './container-files';
import { NetnsPinner } from './netns';
import { HOST_NETWORK, NONE_NETWORK, bridgeConfList, defaultBridge, loopbackConfList } from './network-configs';
import { NetworkManager, describeConfList } from './network-manager';
import { NetworkRegistry } from './network-registry';
import type { NetworkServiceOptions } from './options';
import { PortReservations, normalizePorts } from './ports';
import { containsHost, formatIp4, parseCidr4, parseIp4 } from './subnet';
import { atomicWrite } from './util/atomic-write';
import { runCommand } from './util/run-command';

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const ALIAS = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
const CONTAINER_MODE = 'container:';

function checkId(id: string | undefined, what = 'container id'): string {
  if (!id || !CONTAINER_ID.test(id)) throw E.InvalidArgument(`invalid ${what} "${id ?? ''}": use 1-128 letters, digits, "_", "." or "-"`);
  return id;
}

async function iptablesWorks(): Promise<boolean> {
  try {
    const r = await runCommand('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'], { timeoutMs: 10_000 });
    return r.code === 0;
  } catch {
    return false;
  }
}

/** The container's interfaces from CNI results: those inside the netns, loopback left out. */
export function interfacesOf(results: readonly CniResult[]): NetInterface[] {
  const out: NetInterface[] = [];
  for (const r of results) {
    for (const [idx, itf] of (r.interfaces ?? []).entries()) {
      if (!itf.sandbox || itf.name === 'lo') continue;
      const ips = (r.ips ?? []).filter((ip) => ip.interface === idx);
      out.push({ name: itf.name, mac: itf.mac ?? '', addresses: ips.map((ip) => ip.address), gateway: ips.find((ip) => ip.gateway)?.gateway ?? '', network: '', aliases: [] });
    }
  }
  return out;
}

/** A network service with the in-process extras the daemon needs. */
export type LocalNetworkService = NetworkService & {
  /** Wait for calls in flight; idempotent. Netns, attachments and caches stay (live restore). */
  close(): Promise<void>;
  /** The netns pinner (tests use it to release the netns dir mount). */
  readonly netns: NetnsPinner;
  /** Whether the firewall plugin and masquerading are in use. */
  readonly firewall: boolean;
};

interface EndpointPlan {
  conflist: CniConfList;
  network: string;
  aliases: string[];
  ip: string;
}

/**
 * The network service in process: pinned netns per container ("none" gets none: the runtime
 * makes a new netns, with lo up), CNI 1.0 (the default bridge network, user networks from the conf dir), published ports through portmap,
 * hosts/hostname/resolv.conf with peers on user networks kept current. Calls on one container
 * serialize; different containers run in parallel.
 */
export async function createNetworkService(opts: NetworkServiceOptions): Promise<LocalNetworkService> {
  const log = opts.log;
  const exec: CniExecOptions = { binDirs: (opts.cniBinDir ?? '/usr/lib/cni').split(':').filter(Boolean), timeoutMs: opts.pluginTimeoutMs ?? 30_000 };
  const confDir = opts.cniConfDir ?? join(opts.dir, 'cni', 'net.d');
  const cacheDir = join(opts.dir, 'cni-cache');
  const cache = new CniResultCache(cacheDir);
  const store = new AttachmentStore(join(opts.dir, 'attachments'));
  const netns = new NetnsPinner(opts.runDir);
  const registry = new NetworkRegistry(confDir, log);
  const locks = new KeyedMutex();
  const hostLocks = new KeyedMutex();
  const ports = new PortReservations();
  const hostResolvConf = opts.hostResolvConf ?? '/etc/resolv.conf';
  const hostHosts = opts.hostHosts ?? '/etc/hosts';
  const ipamDir = join(opts.dir, 'ipam');

  await mkdir(ipamDir, { recursive: true, mode: 0o700 });
  const firewall = opts.firewall ?? (await iptablesWorks());
  if (!firewall) log.warn('iptables is not usable: the default network runs without the firewall plugin and without masquerading');
  const def = { ...defaultBridge, ...opts.defaultNetwork };
  await registry.install(bridgeConfList({ name: def.name, bridge: def.bridge, subnet: def.subnet, ipamDir, firewall }));
  await registry.reload();
  await netns.init();
  const manager = new NetworkManager(opts.dir, registry, ipamDir, def.name, firewall, log);
  let closed: Promise<void> | undefined;

  /** Attachments by container, mirrored in memory for network membership and hosts. */
  const records = new Map<string, Attachment>();
  for (const a of await store.list()) records.set(a.containerId, a);
  ports.load([...records.values()].map((a) => [a.containerId, a.ports ?? []]));
  /** Attaches in flight per network (a network cannot be removed under them). */
  const inflight = new Map<string, number>();

  const readOr = (file: string) => readFile(file, 'utf8').catch(() => '');
  const usersOf = (name: string) => [...records.values()].filter((a) => a.interfaces.some((i) => i.network === name) || a.network === name).map((a) => a.containerId).sort();
  const normalizeNetwork = (n: string | undefined) => (!n || n === 'bridge' || n === 'default' ? def.name : n);

  async function putRecord(a: Attachment): Promise<void> {
    await store.put(a);
    records.set(a.containerId, a);
  }
  async function dropRecord(id: string): Promise<void> {
    await store.remove(id);
    records.delete(id);
    ports.release(id);
  }

  // --- hosts files ------------------------------------------------------------------------

  /** The hosts file of one attachment, with peers on its user networks. */
  async function hostsContent(a: Attachment): Promise<string> {
    const extra = parseExtraHosts(a.extraHosts ?? [], undefined);
    if (!a.netnsPath && a.network !== NONE_NETWORK) return hostNetworkHostsFile(await readOr(hostHosts), extra);
    const own = hostsFile(a.hostname, a.interfaces.flatMap((i) => i.addresses.map((x) => x.split('/')[0])), extra);
    const peers: PeerEntry[] = [];
    for (const itf of a.interfaces) {
      if (itf.network === def.name) continue; // like docker's default bridge: no name resolution
      for (const b of records.values()) {
        if (b.containerId === a.containerId || b.network.startsWith(CONTAINER_MODE)) continue;
        for (const bi of b.interfaces) {
          if (bi.network !== itf.network) continue;
          for (const addr of bi.addresses) peers.push({ ip: addr.split('/')[0], names: [b.name, ...bi.aliases] });
        }
      }
    }
    return hostsFileWithPeers(own, peers);
  }

  /** Rewrite a hosts file in place (same inode: it is bind-mounted into the running container). */
  async function writeHosts(a: Attachment): Promise<void> {
    if (!a.hostsPath || a.network.startsWith(CONTAINER_MODE)) return;
    try {
      await writeFile(a.hostsPath, await hostsContent(a));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: e, containerId: a.containerId }, 'updating hosts failed');
    }
  }

  const wanted = new Map<string, number>();
  const done = new Map<string, number>();
  /** Rewrite the hosts of every container on `network` (coalesced: one run covers all earlier requests). */
  async function refreshHosts(network: string): Promise<void> {
    if (network === def.name || network === HOST_NETWORK || network === NONE_NETWORK) return;
    const mine = (wanted.get(network) ?? 0) + 1;
    wanted.set(network, mine);
    await hostLocks.run(network, async () => {
      if ((done.get(network) ?? 0) >= mine) return;
      const upTo = wanted.get(network) ?? mine;
      for (const a of [...records.values()]) if (a.interfaces.some((i) => i.network === network)) await writeHosts(a);
      done.set(network, upTo);
    });
  }

  // --- CNI --------------------------------------------------------------------------------

  /** CNI DEL of everything cached for the container, then netns and record removal. */
  async function teardown(id: string, ctx: CallContext): Promise<string[]> {
    const netnsPath = (await netns.exists(id)) ? netns.path(id) : '';
    const nets = (records.get(id)?.interfaces ?? []).map((i) => i.network);
    for (const e of await cache.list(id)) {
      ctx.log.debug({ containerId: id, network: e.networkName, ifName: e.ifName }, 'CNI DEL');
      // An ADD interrupted before its result was cached: what host-local leased stands in for it.
      const prev = e.result ?? (await resultFromLeases(e.config, id, e.ifName, netnsPath));
      await delNetworkList(e.config, CniResultCache.runtimeOf(e, netnsPath), prev, exec);
      await cache.remove(e);
    }
    await netns.remove(id);
    await cache.removeAll(id);
    await dropRecord(id);
    return nets;
  }

  async function nextSeq(id: string): Promise<number> {
    return Math.max(-1, ...(await cache.list(id)).map((e) => e.seq)) + 1;
  }

  /** CNI ADD of one network on `ifName`; the cache entry is written before ADD and after it. */
  async function addEndpoint(id: string, netnsPath: string, ep: EndpointPlan, ifName: string, published: PortMapping[], ctx: CallContext): Promise<{ itf: NetInterface; undo: () => Promise<void> }> {
    const capabilityArgs: Record<string, unknown> = {};
    if (published.length) capabilityArgs.portMappings = published.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, ...(p.hostIp ? { hostIP: p.hostIp } : {}) }));
    if (ep.ip) capabilityArgs.ips = [ep.ip];
    const entry: CniCacheEntry = {
      kind: 'conga.cni.v1', containerId: id, networkName: ep.conflist.name, ifName, netns: netnsPath,
      args: [['IgnoreUnknown', '1']], capabilityArgs, config: ep.conflist, seq: await nextSeq(id),
    };
    const rt = CniResultCache.runtimeOf(entry, netnsPath);
    await cache.put(entry); // before ADD: a crash mid-ADD can still be DELeted
    ctx.log.debug({ containerId: id, network: ep.network, ifName }, 'CNI ADD');
    try {
      entry.result = await addNetworkList(ep.conflist, rt, exec);
    } catch (e) {
      await cache.remove(entry); // addNetworkList already DELeted what it could not finish
      throw e;
    }
    await cache.put(entry);
    const undo = async () => {
      await delNetworkList(entry.config, rt, entry.result, exec);
      await cache.remove(entry);
    };
    if (ifName === 'lo') return { itf: { name: 'lo', mac: '', addresses: [], gateway: '', network: ep.network, aliases: [] }, undo };
    const itf = interfacesOf([entry.result]).find((i) => i.name === ifName) ?? interfacesOf([entry.result])[0];
    if (!itf) {
      await undo().catch(() => undefined);
      throw E.CniFailed(ep.conflist.plugins[0]?.type ?? ep.network, 'ADD', `the result has no interface ${ifName} inside the container`);
    }
    return { itf: { ...itf, network: ep.network, aliases: ep.aliases }, undo };
  }

  /** Resolve and validate one endpoint request (network exists, aliases and fixed IP sane). */
  async function planEndpoint(e: EndpointRequest): Promise<EndpointPlan> {
    const network = normalizeNetwork(e.network);
    if (network === HOST_NETWORK || network === NONE_NETWORK || network.startsWith(CONTAINER_MODE)) {
      throw E.InvalidArgument(`container cannot be connected to network "${network}" together with other networks`);
    }
    const plan = await registry.plan(network);
    const conflist = plan.steps[plan.steps.length - 1].conflist;
    const aliases = [...new Set(e.aliases ?? [])];
    for (const a of aliases) if (!ALIAS.test(a)) throw E.InvalidArgument(`invalid network alias "${a}": use letters, digits, "_", "." or "-"`);
    let ip = '';
    if (e.ipv4Address) {
      const n = parseIp4(e.ipv4Address);
      const subnet = describeConfList(conflist).subnet;
      if (n === undefined) throw E.InvalidArgument(`invalid IPv4 address "${e.ipv4Address}"`);
      let cidr;
      try {
        cidr = parseCidr4(subnet);
      } catch {
        throw E.InvalidArgument(`network ${network} has no IPv4 subnet Conga can check a fixed address against`);
      }
      if (!containsHost(cidr, n)) throw E.InvalidArgument(`address ${e.ipv4Address} is not inside the subnet ${subnet} of network ${network}`);
      if (network === def.name) throw E.InvalidArgument('user specified IP address is supported on user defined networks only');
      ip = `${formatIp4(n)}/${cidr.prefix}`;
    }
    return { conflist, network, aliases, ip };
  }

  async function attachLocked(req: AttachRequest, id: string, mode: string, ctx: CallContext): Promise<Attachment> {
    const existing = records.get(id) ?? (await store.get(id));
    if (existing) {
      if (existing.network !== mode) throw E.AttachmentConflict(id, existing.network, mode);
      return existing;
    }
    const hostname = checkHostname(req.hostname || id.slice(0, 12));
    const name = req.name ?? '';
    if (name && !ALIAS.test(name)) throw E.InvalidArgument(`invalid container name "${name}"`);
    const filesDir = req.filesDir ?? '';
    if (filesDir) {
      if (!isAbsolute(filesDir)) throw E.InvalidArgument(`files_dir "${filesDir}" must be an absolute path`);
      const st = await stat(filesDir).catch(() => undefined);
      if (!st?.isDirectory()) throw E.InvalidArgument(`files_dir "${filesDir}" is not an existing directory`);
    }

    if (mode.startsWith(CONTAINER_MODE)) {
      // Join another container's netns and share its files (docker --network container:X).
      const target = checkId(mode.slice(CONTAINER_MODE.length), 'container');
      const t = records.get(target);
      if (!t) throw E.InvalidArgument(`cannot join the network of container ${target}: it is not running`);
      if (t.network.startsWith(CONTAINER_MODE)) throw E.InvalidArgument(`cannot join the network of container ${target}: it shares another container's network itself`);
      if (t.network === NONE_NETWORK) throw E.InvalidArgument(`cannot join the network of container ${target}: it uses network "none", whose namespace is private to it; give it a network or use --network none`);
      const att: Attachment = { ...t, containerId: id, network: mode, name, ports: [], interfaces: t.interfaces };
      await putRecord(att);
      return att;
    }

    const builtin = mode === HOST_NETWORK || mode === NONE_NETWORK;
    if (builtin && (req.moreNetworks ?? []).length > 0) throw E.InvalidArgument(`container cannot be connected to network "${mode}" and to other networks`);
    if (builtin) await registry.plan(mode);
    const endpoints = builtin ? [] : [await planEndpoint({ network: mode, aliases: req.aliases, ipv4Address: req.ipv4Address }), ...(await Promise.all((req.moreNetworks ?? []).map(planEndpoint)))];
    if (new Set(endpoints.map((e) => e.network)).size !== endpoints.length) throw E.InvalidArgument('a network is given more than once');
    const published = mode === HOST_NETWORK || mode === NONE_NETWORK ? [] : normalizePorts(req.ports ?? []);
    if (published.length && !endpoints[0].conflist.plugins.some((p) => p.capabilities?.portMappings)) {
      throw E.InvalidArgument(`network ${endpoints[0].network} cannot publish ports (its configuration has no portmap plugin)`);
    }
    // Validate every input before anything is created.
    parseExtraHosts(req.extraHosts ?? [], '0.0.0.0');
    const resolv = resolvConfFile(parseResolvConf(await readOr(hostResolvConf)), req.dns ?? [], req.dnsSearch ?? [], mode !== HOST_NETWORK);

    // Leftovers from an attach that crashed half-way (no record was written): clear them first.
    await teardown(id, ctx);

    const undo: (() => Promise<unknown>)[] = [];
    for (const e of endpoints) inflight.set(e.network, (inflight.get(e.network) ?? 0) + 1);
    try {
      const reserved = await ports.reserve(id, published);
      undo.push(async () => ports.release(id));
      let netnsPath = '';
      const interfaces: NetInterface[] = [];
      // "none": no pinned netns and no CNI; netnsPath "" tells the executor to have the runtime
      // make a new netns, where runc brings lo up itself.
      if (mode !== HOST_NETWORK && mode !== NONE_NETWORK) {
        netnsPath = await netns.create(id);
        undo.push(() => netns.remove(id));
        const lo = await addEndpoint(id, netnsPath, { conflist: loopbackConfList(), network: 'conga-loopback', aliases: [], ip: '' }, 'lo', [], ctx);
        undo.push(lo.undo);
        for (const [i, ep] of endpoints.entries()) {
          const r = await addEndpoint(id, netnsPath, ep, `eth${i}`, i === 0 ? reserved : [], ctx);
          undo.push(r.undo);
          interfaces.push(r.itf);
        }
      }
      const gateway = interfaces.find((i) => i.gateway)?.gateway || undefined;
      const extra = parseExtraHosts(req.extraHosts ?? [], gateway);
      const att: Attachment = {
        containerId: id, network: mode, netnsPath, interfaces, hostsPath: '', resolvConfPath: '', hostnamePath: '',
        name, hostname, ports: reserved, extraHosts: extra.map((h) => `${h.name}:${h.ip}`),
      };
      if (filesDir) {
        const files: [keyof Attachment & ('hostsPath' | 'resolvConfPath' | 'hostnamePath'), string, string][] = [
          ['hostsPath', 'hosts', await hostsContent(att)],
          ['hostnamePath', 'hostname', hostname + '\n'],
          ['resolvConfPath', 'resolv.conf', resolv],
        ];
        for (const [key, file, content] of files) {
          const p = join(filesDir, file);
          undo.push(() => rm(p, { force: true }));
          await atomicWrite(p, content);
          att[key] = p;
        }
      }
      await putRecord(att);
      ctx.log.info({ containerId: id, network: mode, netnsPath, ips: interfaces.flatMap((i) => i.addresses) }, 'attached');
      for (const e of endpoints) await refreshHosts(e.network);
      return att;
    } catch (e) {
      ctx.log.info({ containerId: id, network: mode, err: e }, 'attach failed; undoing');
      for (const u of undo.reverse()) {
        await u().catch((err) => ctx.log.warn({ containerId: id, err }, 'undo step of a failed attach failed'));
      }
      await cache.prune(id);
      throw e;
    } finally {
      for (const e of endpoints) inflight.set(e.network, (inflight.get(e.network) ?? 1) - 1);
    }
  }

  /** After a crash: undo attaches that never wrote their record, drop netns nobody owns. */
  async function recover(): Promise<void> {
    const ctx = newContext(log);
    const cached = await readdir(cacheDir).catch(() => [] as string[]);
    const pinned = await readdir(netns.dir).catch(() => [] as string[]);
    for (const id of new Set([...cached, ...pinned])) {
      if (records.has(id) || !CONTAINER_ID.test(id)) continue;
      await locks.run(id, async () => {
        if (records.has(id)) return;
        log.info({ containerId: id }, 'releasing an attach interrupted by a crash');
        await teardown(id, ctx).catch((err) => log.warn({ err, containerId: id }, 'releasing an interrupted attach failed'));
      });
    }
  }
  await recover();

  function attached(id: string): Attachment {
    const a = records.get(id);
    if (!a) throw E.AttachmentNotFound(id);
    return a;
  }

  const svc: LocalNetworkService = {
    netns,
    firewall,
    async attach(req, ctx) {
      const id = checkId(req.containerId);
      return locks.run(id, () => attachLocked(req, id, normalizeNetwork(req.network), ctx));
    },
    async detach(req: DetachRequest, ctx) {
      const id = checkId(req.containerId);
      const nets = await locks.run(id, () => teardown(id, ctx));
      for (const n of new Set(nets)) await refreshHosts(n);
      ctx.log.info({ containerId: id }, 'detached');
      return {};
    },
    async getAttachment(req: GetAttachmentRequest) {
      return attached(checkId(req.containerId));
    },
    async listAttachments(_req: ListAttachmentsRequest): Promise<ListAttachmentsResponse> {
      return { attachments: [...records.values()].sort((a, b) => a.containerId.localeCompare(b.containerId)) };
    },
    async connect(req, ctx) {
      const id = checkId(req.containerId);
      const ep = await planEndpoint(req.endpoint ?? {});
      const att = await locks.run(id, async () => {
        const a = attached(id);
        if (!a.netnsPath || a.network.startsWith(CONTAINER_MODE) || a.network === NONE_NETWORK) {
          throw E.InvalidArgument(`container ${id} uses network "${a.network}" and cannot be connected to other networks`);
        }
        if (a.interfaces.some((i) => i.network === ep.network)) throw E.AlreadyConnected(a.name || id, ep.network);
        let n = 0;
        while (a.interfaces.some((i) => i.name === `eth${n}`)) n++;
        inflight.set(ep.network, (inflight.get(ep.network) ?? 0) + 1);
        try {
          const r = await addEndpoint(id, a.netnsPath, ep, `eth${n}`, [], ctx);
          const next: Attachment = { ...a, interfaces: [...a.interfaces, r.itf] };
          try {
            await putRecord(next);
          } catch (e) {
            await r.undo().catch(() => undefined);
            throw e;
          }
          await writeHosts(next);
          return next;
        } finally {
          inflight.set(ep.network, (inflight.get(ep.network) ?? 1) - 1);
        }
      });
      await refreshHosts(ep.network);
      ctx.log.info({ containerId: id, network: ep.network }, 'connected');
      return att;
    },
    async disconnect(req, ctx) {
      const id = checkId(req.containerId);
      const network = normalizeNetwork(req.network);
      const att = await locks.run(id, async () => {
        const a = attached(id);
        const itf = a.interfaces.find((i) => i.network === network);
        if (!itf) throw E.NotConnected(a.name || id, network);
        const entry = (await cache.list(id)).find((e) => e.networkName === network && e.ifName === itf.name);
        if (entry) {
          await delNetworkList(entry.config, CniResultCache.runtimeOf(entry, a.netnsPath), entry.result, exec);
          await cache.remove(entry);
        }
        const first = a.interfaces[0] === itf;
        const next: Attachment = { ...a, interfaces: a.interfaces.filter((i) => i !== itf), ports: first ? [] : a.ports };
        if (first) ports.release(id);
        await putRecord(next);
        if (first) ports.load([...records.values()].map((r) => [r.containerId, r.ports ?? []]));
        await writeHosts(next);
        return next;
      });
      await refreshHosts(network);
      ctx.log.info({ containerId: id, network }, 'disconnected');
      return att;
    },
    async createNetwork(req) {
      return manager.create(req, usersOf);
    },
    async getNetwork(req) {
      return manager.get(req.nameOrId ?? '', usersOf);
    },
    async listNetworks() {
      return { networks: await manager.list(usersOf) };
    },
    async deleteNetwork(req) {
      await manager.remove(req.nameOrId ?? '', usersOf, (n) => (inflight.get(n) ?? 0) > 0);
      return {};
    },
    close() {
      closed ??= Promise.all([locks.idle(), hostLocks.idle()]).then(() => undefined);
      return closed;
    },
  };
  return svc;
}
