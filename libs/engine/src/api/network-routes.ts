import type { FastifyInstance } from 'fastify';
import { E, type CallContext } from '@conga/common';
import type { NetworkInfo } from '@conga/api';
import type { Engine } from '../engine';
import type { ContainerRecord } from '../container-types';
import { networkSettings, setEndpoint, storeSettings, type EndpointSettings } from '../network-settings';
import { ctxOf } from './server';
import { parseFilters } from './filters';

/** Docker's network object (GET /networks/{id}). */
function dockerNetwork(n: NetworkInfo, engine: Engine): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const id of n.containerIds) {
    let c: ContainerRecord | undefined;
    try {
      c = engine.containers.get(id);
    } catch {
      c = undefined;
    }
    containers[id] = { Name: c?.Name ?? '', EndpointID: '', MacAddress: '', IPv4Address: '', IPv6Address: '' };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created || '0001-01-01T00:00:00Z',
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: n.subnet ? [{ Subnet: n.subnet, ...(n.gateway ? { Gateway: n.gateway } : {}) }] : [] },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.options,
    Labels: n.labels,
  };
}

/** Fill Containers[id] addresses from the live attachments. */
async function withEndpoints(obj: Record<string, unknown>, n: NetworkInfo, engine: Engine, ctx: CallContext): Promise<Record<string, unknown>> {
  const containers = obj.Containers as Record<string, Record<string, string>>;
  for (const id of n.containerIds) {
    const a = await engine.services.network.getAttachment({ containerId: id }, ctx).catch(() => undefined);
    const itf = a?.interfaces.find((i) => i.network === n.name);
    if (itf) Object.assign(containers[id], { MacAddress: itf.mac, IPv4Address: itf.addresses[0] ?? '', EndpointID: `${id.slice(0, 32)}${itf.name.padEnd(8, '0').slice(0, 8)}` });
  }
  return obj;
}

function matches(n: NetworkInfo, f: Record<string, string[]>): boolean {
  for (const [k, vals] of Object.entries(f)) {
    if (vals.length === 0) continue;
    const ok = vals.some((v) => {
      switch (k) {
        case 'name':
          return n.name.includes(v);
        case 'id':
          return n.id.startsWith(v);
        case 'driver':
          return n.driver === v;
        case 'type':
          return v === (n.builtin ? 'builtin' : 'custom');
        case 'label': {
          const [lk, lv] = v.split('=', 2);
          return lv === undefined ? lk in n.labels : n.labels[lk] === lv;
        }
        case 'dangling':
          return (n.containerIds.length === 0) === (v === 'true' || v === '1');
        default:
          throw E.InvalidArgument(`invalid filter '${k}'`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

const defaultNetworkOf = (engine: Engine): string => (engine.containers as unknown as { opts: { defaultNetwork: string } }).opts.defaultNetwork;

/** Containers' network modes that cannot take another network. */
function checkConnectable(c: ContainerRecord): void {
  const m = c.HostConfig.NetworkMode ?? '';
  if (m === 'host' || m === 'none' || m.startsWith('container:')) {
    throw E.InvalidArgument(`container cannot be disconnected from host network or connected to host network (its network mode is ${m})`);
  }
}

/** Docker Engine API /networks endpoints over the network service. */
export function registerNetworkRoutes(app: FastifyInstance, engine: Engine): void {
  const net = engine.services.network;

  app.get<{ Querystring: { filters?: string } }>('/networks', async (req) => {
    const f = parseFilters(req.query.filters);
    const { networks } = await net.listNetworks({}, ctxOf(req));
    return networks.filter((n) => matches(n, f)).map((n) => dockerNetwork(n, engine));
  });

  app.get<{ Params: { id: string } }>('/networks/:id', async (req) => {
    const ctx = ctxOf(req);
    const n = await net.getNetwork({ nameOrId: req.params.id }, ctx);
    return withEndpoints(dockerNetwork(n, engine), n, engine, ctx);
  });

  app.post<{ Body: { Name?: string; Driver?: string; Internal?: boolean; IPAM?: { Config?: { Subnet?: string; Gateway?: string; IPRange?: string }[] | null } | null; Options?: Record<string, string> | null; Labels?: Record<string, string> | null; EnableIPv6?: boolean } }>('/networks/create', async (req, reply) => {
    const b = req.body ?? {};
    if (!b.Name) throw E.InvalidArgument('network name is required: give Name');
    if (b.EnableIPv6) throw E.InvalidArgument('IPv6 networks are not supported by conga yet');
    const cfgs = b.IPAM?.Config ?? [];
    if (cfgs.length > 1) throw E.InvalidArgument('only one IPAM config (one IPv4 subnet) per network is supported');
    if (cfgs[0]?.IPRange) throw E.InvalidArgument('--ip-range is not supported by conga yet');
    const n = await net.createNetwork(
      { name: b.Name, driver: b.Driver ?? '', subnet: cfgs[0]?.Subnet ?? '', gateway: cfgs[0]?.Gateway ?? '', internal: !!b.Internal, labels: b.Labels ?? {}, options: b.Options ?? {} },
      ctxOf(req),
    );
    void reply.code(201);
    return { Id: n.id, Warning: '' };
  });

  app.delete<{ Params: { id: string } }>('/networks/:id', async (req, reply) => {
    await net.deleteNetwork({ nameOrId: req.params.id }, ctxOf(req));
    void reply.code(204).send();
  });

  app.post<{ Querystring: { filters?: string } }>('/networks/prune', async (req) => {
    const ctx = ctxOf(req);
    const f = parseFilters(req.query.filters);
    const deleted: string[] = [];
    for (const n of (await net.listNetworks({}, ctx)).networks) {
      if (n.builtin || n.containerIds.length > 0) continue;
      if (!matches(n, { ...f, dangling: [] })) continue;
      try {
        await net.deleteNetwork({ nameOrId: n.id }, ctx);
        deleted.push(n.name);
      } catch (e) {
        if (!E.NetworkInUse.is(e) && !E.NetworkNotFound.is(e)) throw e;
      }
    }
    return { NetworksDeleted: deleted };
  });

  app.post<{ Params: { id: string }; Body: { Container?: string; EndpointConfig?: EndpointSettings | null } }>('/networks/:id/connect', async (req, reply) => {
    const ctx = ctxOf(req);
    const b = req.body ?? {};
    if (!b.Container) throw E.InvalidArgument('Container is required');
    const n = await net.getNetwork({ nameOrId: req.params.id }, ctx);
    if (n.name === 'host' || n.name === 'none') throw E.InvalidArgument(`container cannot be connected to network ${n.name}: it is only available at create time (--network ${n.name})`);
    const ep: EndpointSettings = { Aliases: b.EndpointConfig?.Aliases ?? [], IPAMConfig: b.EndpointConfig?.IPAMConfig ?? null };
    await engine.containers.withLock(b.Container, async (c) => {
      checkConnectable(c);
      const running = c.State.Status === 'running' || c.State.Status === 'paused';
      if (running) {
        const att = await net.connect({ containerId: c.Id, endpoint: { network: n.name, aliases: ep.Aliases ?? [], ipv4Address: ep.IPAMConfig?.IPv4Address ?? '' } }, ctx);
        storeSettings(c, networkSettings(c, att, defaultNetworkOf(engine)));
      } else if (Object.keys(networkSettings(c, undefined, defaultNetworkOf(engine)).Networks as object).includes(n.name)) {
        throw E.AlreadyConnected(c.Name, n.name);
      }
      setEndpoint(c, n.name, ep);
      engine.containers.store.save(c);
    });
    void reply.code(200).send();
  });

  app.post<{ Params: { id: string }; Body: { Container?: string; Force?: boolean } }>('/networks/:id/disconnect', async (req, reply) => {
    const ctx = ctxOf(req);
    const b = req.body ?? {};
    if (!b.Container) throw E.InvalidArgument('Container is required');
    const n = await net.getNetwork({ nameOrId: req.params.id }, ctx);
    const def = defaultNetworkOf(engine);
    await engine.containers.withLock(b.Container, async (c) => {
      checkConnectable(c);
      const running = c.State.Status === 'running' || c.State.Status === 'paused';
      const configured = Object.keys(networkSettings(c, undefined, def).Networks as object);
      if (running) {
        const att = await net.disconnect({ containerId: c.Id, network: n.name }, ctx);
        storeSettings(c, networkSettings(c, att, def));
      } else if (!configured.includes(n.name)) {
        throw E.NotConnected(c.Name, n.name);
      }
      setEndpoint(c, n.name, undefined);
      const mode = c.HostConfig.NetworkMode || 'default';
      const primary = mode === 'default' || mode === 'bridge' ? def : mode;
      if (primary === n.name) {
        // The primary network is gone: the next start uses the first network left, or none.
        const rest = configured.filter((x) => x !== n.name);
        c.HostConfig.NetworkMode = rest[0] ?? 'none';
      }
      engine.containers.store.save(c);
    });
    void reply.code(200).send();
  });
}
