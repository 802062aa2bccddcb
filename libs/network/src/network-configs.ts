import type { CniConfList } from './cni/types';

/** CNI version Conga writes into its own conflists. */
export const CNI_VERSION = '1.0.0';

/** The built-in network names that have no conflist. */
export const HOST_NETWORK = 'host';
export const NONE_NETWORK = 'none';
/** Name of the conflist that brings `lo` up in every netns Conga creates. */
export const LOOPBACK_NETWORK = 'conga-loopback';

/** The default bridge network's settings; tests and daemon.json may change all of them. */
export interface BridgeNetworkOptions {
  /** Network name (default "conga0"). */
  name: string;
  /** Linux bridge device (max 15 chars; default "conga0"). */
  bridge: string;
  /** IPv4 subnet in CIDR (default 10.88.0.0/16). */
  subnet: string;
  /** host-local IPAM data dir. */
  ipamDir: string;
  /** Add the firewall plugin and masquerade (needs working iptables). */
  firewall: boolean;
  /** Gateway address on the bridge (default: host-local's first address). */
  gateway?: string;
  /** No masquerade and no default route: containers reach only the network and the host. */
  internal?: boolean;
  mtu?: number;
}

export const defaultBridge = { name: 'conga0', bridge: 'conga0', subnet: '10.88.0.0/16' } as const;

/** The conflist that runs the loopback plugin (for "none" and in front of every CNI network). */
export function loopbackConfList(): CniConfList {
  return { cniVersion: CNI_VERSION, name: LOOPBACK_NETWORK, plugins: [{ type: 'loopback' }] };
}

/**
 * The default bridge network: bridge (gateway, masquerade), host-local IPAM, portmap (port
 * publishing through runtimeConfig.portMappings) and firewall. Without iptables the firewall
 * plugin and ipMasq are left out.
 */
export function bridgeConfList(o: BridgeNetworkOptions): CniConfList {
  const plugins: CniConfList['plugins'] = [
    {
      type: 'bridge',
      bridge: o.bridge,
      isGateway: true,
      ipMasq: o.firewall && !o.internal,
      hairpinMode: true,
      ...(o.mtu ? { mtu: o.mtu } : {}),
      capabilities: { ips: true },
      ipam: hostLocal(o.subnet, o.gateway, o.ipamDir, !o.internal),
    },
    { type: 'portmap', capabilities: { portMappings: true } },
  ];
  if (o.firewall) plugins.push({ type: 'firewall', backend: 'iptables' });
  return { cniVersion: CNI_VERSION, name: o.name, plugins };
}

function hostLocal(subnet: string, gateway: string | undefined, dataDir: string, defaultRoute: boolean): Record<string, unknown> {
  return {
    type: 'host-local',
    ranges: [[{ subnet, ...(gateway ? { gateway } : {}) }]],
    routes: defaultRoute ? [{ dst: '0.0.0.0/0' }] : [],
    dataDir,
  };
}

/** A macvlan or ipvlan network on a parent interface of the host (no port publishing). */
export interface VlanNetworkOptions {
  name: string;
  driver: 'macvlan' | 'ipvlan';
  /** Host interface the container interfaces hang off. */
  parent: string;
  /** macvlan: bridge (default), private, vepa, passthru; ipvlan: l2 (default), l3, l3s. */
  mode?: string;
  subnet: string;
  gateway?: string;
  ipamDir: string;
  internal?: boolean;
  mtu?: number;
}

/** The conflist of a macvlan/ipvlan network: the driver plugin with host-local IPAM. */
export function vlanConfList(o: VlanNetworkOptions): CniConfList {
  return {
    cniVersion: CNI_VERSION,
    name: o.name,
    plugins: [
      {
        type: o.driver,
        master: o.parent,
        mode: o.mode ?? (o.driver === 'macvlan' ? 'bridge' : 'l2'),
        ...(o.mtu ? { mtu: o.mtu } : {}),
        capabilities: { ips: true },
        ipam: hostLocal(o.subnet, o.gateway, o.ipamDir, !o.internal && !!o.gateway),
      },
    ],
  };
}
