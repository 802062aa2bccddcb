import type { Logger } from '@conga/common';

/**
 * How to build a network service. `dir` and `runDir` come from the daemon's --root/--run
 * (layout.networkDir / layout.networkRunDir). Owned by the network service; fields may be
 * added (daemon.json cni dirs, user networks).
 */
export interface NetworkServiceOptions {
  /** Persistent state: `<root>/network` (CNI result cache, attachments, IPAM, conflists). */
  dir: string;
  /** Runtime state: `<run>/network` (pinned netns files). */
  runDir: string;
  /** Where CNI plugins live; several dirs may be joined with ":" (default /usr/lib/cni). */
  cniBinDir?: string;
  /** Conflist directory (default `<dir>/cni/net.d`); Conga writes its default network here. */
  cniConfDir?: string;
  log: Logger;
  /** The default bridge network (defaults: name and bridge "conga0", subnet 10.88.0.0/16). */
  defaultNetwork?: { name?: string; bridge?: string; subnet?: string };
  /** Use the firewall plugin and masquerading; default: when `iptables` works on this host. */
  firewall?: boolean;
  /** Limit for one plugin call (default 30 s). */
  pluginTimeoutMs?: number;
  /** Host files copied into containers (defaults /etc/resolv.conf and /etc/hosts). */
  hostResolvConf?: string;
  hostHosts?: string;
}
