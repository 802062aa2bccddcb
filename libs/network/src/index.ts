/**
 * @conga/network — the network service in process: pinned netns, CNI 1.0, hosts/resolv.conf.
 * Public API; owned by the network service.
 */
export { createNetworkService, interfacesOf, type LocalNetworkService } from './service';
export type { NetworkServiceOptions } from './options';
export { NetnsPinner, isNsfs } from './netns';
export { bridgeConfList, loopbackConfList, defaultBridge, CNI_VERSION, HOST_NETWORK, NONE_NETWORK, type BridgeNetworkOptions } from './network-configs';
export { parseConfList } from './network-registry';
export { addNetworkList, delNetworkList, checkNetworkList } from './cni/conflist';
export { execPlugin, findPlugin } from './cni/exec-plugin';
export type * from './cni/types';
// The conformance suite lives in './testsuite' (import '@conga/network/src/testsuite'): kept out of
// this barrel so the daemon never loads node:test.
