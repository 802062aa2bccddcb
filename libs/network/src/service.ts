import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { E, KeyedMutex, type CallContext } from '@conga/common';
import type { Attachment, AttachRequest, DetachRequest, GetAttachmentRequest, ListAttachmentsRequest, ListAttachmentsResponse, NetInterface, NetworkService } from '@conga/api';
import { AttachmentStore } from './attachment-store';
import { addNetworkList, delNetworkList } from './cni/conflist';
import { CniResultCache, type CniCacheEntry } from './cni/result-cache';
import type { CniExecOptions, CniResult } from './cni/types';
import { checkHostname, hostNetworkHostsFile, hostsFile, parseExtraHosts, parseResolvConf, resolvConfFile } from './container-files';
import { NetnsPinner } from './netns';
import { bridgeConfList, defaultBridge } from './network-configs';
import { NetworkRegistry } from './network-registry';
import type { NetworkServiceOptions } from './options';
import { atomicWrite } from './util/atomic-write';
import { runCommand } from './util/run-command';

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkId(id: string | undefined): string {
  if (!id || !CONTAINER_ID.test(id)) throw E.InvalidArgument(`invalid container id "${id ?? ''}": use 1-128 letters, digits, "_", "." or "-"`);
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
      out.push({ name: itf.name, mac: itf.mac ?? '', addresses: ips.map((ip) => ip.address), gateway: ips.find((ip) => ip.gateway)?.gateway ?? '' });
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

/**
 * The network service in process: pinned netns per container, CNI 1.0 (loopback for "none",
 * the default bridge network "conga0", any conflist in the conf dir), hosts/hostname/resolv.conf.
 * Calls on one container serialize; different containers run in parallel.
 */
export async function createNetworkService(opts: NetworkServiceOptions): Promise<LocalNetworkService> {
  const log = opts.log;
  const exec: CniExecOptions = { binDirs: (opts.cniBinDir ?? '/usr/lib/cni').split(':').filter(Boolean), timeoutMs: opts.pluginTimeoutMs ?? 30_000 };
  const confDir = opts.cniConfDir ?? join(opts.dir, 'cni', 'net.d');
  const cache = new CniResultCache(join(opts.dir, 'cni-cache'));
  const store = new AttachmentStore(join(opts.dir, 'attachments'));
  const netns = new NetnsPinner(opts.runDir);
  const registry = new NetworkRegistry(confDir, log);
  const locks = new KeyedMutex();
  const hostResolvConf = opts.hostResolvConf ?? '/etc/resolv.conf';
  const hostHosts = opts.hostHosts ?? '/etc/hosts';

  await mkdir(join(opts.dir, 'ipam'), { recursive: true, mode: 0o700 });
  const firewall = opts.firewall ?? (await iptablesWorks());
  if (!firewall) log.warn('iptables is not usable: the default network runs without the firewall plugin and without masquerading');
  const def = { ...defaultBridge, ...opts.defaultNetwork };
  await registry.install(bridgeConfList({ name: def.name, bridge: def.bridge, subnet: def.subnet, ipamDir: join(opts.dir, 'ipam'), firewall }));
  await registry.reload();
  await netns.init();
  let closed: Promise<void> | undefined;

  const readOr = (file: string) => readFile(file, 'utf8').catch(() => '');

  /** CNI DEL of everything cached for the container, then netns and record removal. */
  async function teardown(id: string, ctx: CallContext): Promise<void> {
    const netnsPath = (await netns.exists(id)) ? netns.path(id) : '';
    for (const e of await cache.list(id)) {
      ctx.log.debug({ containerId: id, network: e.networkName, ifName: e.ifName }, 'CNI DEL');
      await delNetworkList(e.config, CniResultCache.runtimeOf(e, netnsPath), e.result, exec);
      await cache.remove(e);
    }
    await netns.remove(id);
    await cache.removeAll(id);
    await store.remove(id);
  }

  async function attachLocked(req: AttachRequest, id: string, network: string, ctx: CallContext): Promise<Attachment> {
    const existing = await store.get(id);
    if (existing) {
      if (existing.network !== network) throw E.AttachmentConflict(id, existing.network, network);
      return existing;
    }
    const hostname = checkHostname(req.hostname || id.slice(0, 12));
    const filesDir = req.filesDir ?? '';
    if (filesDir) {
      if (!isAbsolute(filesDir)) throw E.InvalidArgument(`files_dir "${filesDir}" must be an absolute path`);
      const st = await stat(filesDir).catch(() => undefined);
      if (!st?.isDirectory()) throw E.InvalidArgument(`files_dir "${filesDir}" is not an existing directory`);
    }
    const plan = await registry.plan(network);
    // Validate every input before anything is created.
    parseExtraHosts(req.extraHosts ?? [], '0.0.0.0');
    const resolv = resolvConfFile(parseResolvConf(await readOr(hostResolvConf)), req.dns ?? [], req.dnsSearch ?? [], plan.netns);

    // Leftovers from an attach that crashed half-way (no record was written): clear them first.
    await teardown(id, ctx);

    const undo: (() => Promise<unknown>)[] = [];
    try {
      let netnsPath = '';
      if (plan.netns) {
        netnsPath = await netns.create(id);
        undo.push(() => netns.remove(id));
      }
      const results: CniResult[] = [];
      for (const [seq, step] of plan.steps.entries()) {
        const entry: CniCacheEntry = { kind: 'conga.cni.v1', containerId: id, networkName: step.conflist.name, ifName: step.ifName, netns: netnsPath, args: [['IgnoreUnknown', '1']], config: step.conflist, seq };
        const rt = CniResultCache.runtimeOf(entry, netnsPath);
        await cache.put(entry); // before ADD: a crash mid-ADD can still be DELeted
        ctx.log.debug({ containerId: id, network: step.conflist.name, ifName: step.ifName }, 'CNI ADD');
        try {
          entry.result = await addNetworkList(step.conflist, rt, exec);
        } catch (e) {
          // addNetworkList already DELeted the list it could not finish.
          await cache.remove(entry);
          throw e;
        }
        undo.push(async () => {
          await delNetworkList(entry.config, rt, entry.result, exec);
          await cache.remove(entry);
        });
        await cache.put(entry);
        if (step.ifName !== 'lo') results.push(entry.result);
      }
      const interfaces = interfacesOf(results);
      const gateway = interfaces.find((i) => i.gateway)?.gateway || undefined;
      const extra = parseExtraHosts(req.extraHosts ?? [], gateway);
      const paths = { hostsPath: '', resolvConfPath: '', hostnamePath: '' };
      if (filesDir) {
        const ips = interfaces.flatMap((i) => i.addresses.map((a) => a.split('/')[0]));
        const files: [keyof typeof paths, string, string][] = [
          ['hostsPath', 'hosts', plan.netns ? hostsFile(hostname, ips, extra) : hostNetworkHostsFile(await readOr(hostHosts), extra)],
          ['hostnamePath', 'hostname', hostname + '\n'],
          ['resolvConfPath', 'resolv.conf', resolv],
        ];
        for (const [key, name, content] of files) {
          const p = join(filesDir, name);
          undo.push(() => rm(p, { force: true }));
          await atomicWrite(p, content);
          paths[key] = p;
        }
      }
      const att: Attachment = { containerId: id, network, netnsPath, interfaces, ...paths };
      await store.put(att);
      ctx.log.info({ containerId: id, network, netnsPath, ips: interfaces.flatMap((i) => i.addresses) }, 'attached');
      return att;
    } catch (e) {
      ctx.log.info({ containerId: id, network, err: e }, 'attach failed; undoing');
      for (const u of undo.reverse()) {
        await u().catch((err) => ctx.log.warn({ containerId: id, err }, 'undo step of a failed attach failed'));
      }
      await cache.prune(id);
      throw e;
    }
  }

  const svc: LocalNetworkService = {
    netns,
    firewall,
    async attach(req, ctx) {
      const id = checkId(req.containerId);
      let network = req.network ?? '';
      if (network === '' || network === 'bridge') network = def.name;
      return locks.run(id, () => attachLocked(req, id, network, ctx));
    },
    async detach(req: DetachRequest, ctx) {
      const id = checkId(req.containerId);
      await locks.run(id, () => teardown(id, ctx));
      ctx.log.info({ containerId: id }, 'detached');
      return {};
    },
    async getAttachment(req: GetAttachmentRequest) {
      const id = checkId(req.containerId);
      const a = await store.get(id);
      if (!a) throw E.AttachmentNotFound(id);
      return a;
    },
    async listAttachments(_req: ListAttachmentsRequest): Promise<ListAttachmentsResponse> {
      return { attachments: await store.list() };
    },
    close() {
      closed ??= locks.idle();
      return closed;
    },
  };
  return svc;
}
