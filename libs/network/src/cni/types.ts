/**
 * CNI spec 1.0 shapes, only the parts Conga reads. Plugins may add fields; they are kept
 * and passed through untouched. Owned by the network service; may grow with the spec.
 */

/** One plugin's configuration inside a conflist (`type` names the binary). */
export interface CniPluginConf {
  type: string;
  /** Capabilities the plugin accepts through runtimeConfig (e.g. portMappings). */
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** A network configuration list (a `.conflist` file). */
export interface CniConfList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: CniPluginConf[];
}

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** Netns path for interfaces inside the container; absent for host-side interfaces. */
  sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR, e.g. "10.88.0.5/16". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

/** The success result of ADD (and the prevResult handed down a chain). */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  [key: string]: unknown;
}

/** What a plugin prints on failure. */
export interface CniErrorObject {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** The runtime side of one invocation (the CNI_* environment plus runtimeConfig). */
export interface CniRuntimeConf {
  containerId: string;
  /** Netns path; "" when it no longer exists (DEL). */
  netns: string;
  ifName: string;
  /** CNI_ARGS key/value pairs. */
  args?: [string, string][];
  /** Values for plugins' declared capabilities (e.g. { portMappings: [...] }). */
  capabilityArgs?: Record<string, unknown>;
}

/** Where plugins live and how long one call may take. */
export interface CniExecOptions {
  binDirs: readonly string[];
  timeoutMs: number;
}
