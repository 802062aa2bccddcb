import type { CallContext } from '@conga/common';
import { E } from '@conga/common';
import type { PodRecord } from './pod-store';

/**
 * CRI RuntimeService: pod RPCs go to the PodService, container RPCs to the ContainerService,
 * runtime-wide ones (Version, Status, UpdateRuntimeConfig, RuntimeConfig) are answered here.
 * Method names are the RPC names in lowerCamelCase (the transport dispatches on them); requests
 * and responses are the proto-loader objects of proto/k8s/cri/v1/api.proto (camelCase fields,
 * int64 as numbers, enums as names).
 */

/** A unary CRI RPC. */
export type CriRpc = (req: any, ctx: CallContext) => Promise<unknown>;
/** A server-streaming CRI RPC (GetContainerEvents): `send` each message; resolve when done. */
export type CriStreamRpc = (req: any, ctx: CallContext & { send(msg: unknown): void }) => Promise<void>;

/** The RPCs the ContainerService implements (any it lacks answer Unimplemented). */
export const CONTAINER_RPCS = [
  'createContainer', 'startContainer', 'stopContainer', 'removeContainer', 'listContainers', 'containerStatus',
  'updateContainerResources', 'reopenContainerLog', 'execSync', 'exec', 'attach', 'portForward',
  'containerStats', 'listContainerStats', 'podSandboxStats', 'listPodSandboxStats', 'checkpointContainer',
  'listMetricDescriptors', 'listPodSandboxMetrics',
] as const;
export type ContainerRpcName = (typeof CONTAINER_RPCS)[number];

export type ContainerRpcs = Partial<Record<ContainerRpcName, CriRpc>> & { getContainerEvents?: CriStreamRpc };

/** The RPCs the PodService implements. */
export const POD_RPCS = ['runPodSandbox', 'stopPodSandbox', 'removePodSandbox', 'podSandboxStatus', 'listPodSandbox'] as const;
export type PodRpcs = Record<(typeof POD_RPCS)[number], CriRpc>;

/** What the ContainerService may ask of pods. */
export interface PodAccess {
  /** A pod by id or unique prefix; CriPodNotFound when there is none. */
  getPod(id: string): PodRecord;
  listPods(): PodRecord[];
}

/** Runtime-wide facts for Version and Status. */
export interface RuntimeInfo {
  version: string;
  /** Whether the pod network can be set up (CNI configured); false makes NetworkReady false. */
  networkReady(): Promise<{ ready: boolean; reason: string; message: string }>;
  /** The cgroup driver kubelet must match (RuntimeConfig). */
  cgroupDriver: 'SYSTEMD' | 'CGROUPFS';
}

export class RuntimeService {
  /** The pod CIDR from the last UpdateRuntimeConfig (kubelet sends it; CNI may use it). */
  podCidr = '';

  constructor(
    private readonly pods: PodRpcs,
    private readonly containers: ContainerRpcs,
    private readonly info: RuntimeInfo,
  ) {}

  /** The handler table the transport serves: every RPC name → its implementation. */
  handlers(): Record<string, CriRpc | CriStreamRpc> {
    const h: Record<string, CriRpc | CriStreamRpc> = {
      version: (req: { version: string }) => this.version(req),
      status: (req: { verbose: boolean }) => this.status(req),
      updateRuntimeConfig: (req: Parameters<RuntimeService['updateRuntimeConfig']>[0]) => this.updateRuntimeConfig(req),
      runtimeConfig: async () => ({ linux: { cgroupDriver: this.info.cgroupDriver } }),
    };
    for (const name of POD_RPCS) h[name] = this.pods[name].bind(this.pods);
    for (const name of CONTAINER_RPCS) {
      const fn = this.containers[name];
      h[name] = fn ? fn.bind(this.containers) : async () => Promise.reject(E.NotImplemented(`CRI ${name}`));
    }
    const events = this.containers.getContainerEvents;
    h.getContainerEvents = events ? events.bind(this.containers) : async () => Promise.reject(E.NotImplemented('CRI getContainerEvents'));
    return h;
  }

  async version(_req: { version: string }): Promise<unknown> {
    return { version: '0.1.0', runtimeName: 'conga', runtimeVersion: this.info.version, runtimeApiVersion: 'v1' };
  }

  async status(req: { verbose: boolean }): Promise<unknown> {
    const net = await this.info.networkReady();
    const conditions = [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: net.ready, reason: net.reason, message: net.message },
    ];
    const info: Record<string, string> = req.verbose ? { config: JSON.stringify({ podCidr: this.podCidr, cgroupDriver: this.info.cgroupDriver }) } : {};
    return { status: { conditions }, info };
  }

  async updateRuntimeConfig(req: { runtimeConfig: { networkConfig: { podCidr: string } | null } | null }): Promise<unknown> {
    const cidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
    if (cidr && !/^[0-9a-fA-F.:]+\/\d{1,3}(,[0-9a-fA-F.:]+\/\d{1,3})*$/.test(cidr)) {
      throw E.InvalidArgument(`invalid pod CIDR "${cidr}": expected one or more comma-separated CIDRs such as 10.88.0.0/16`);
    }
    if (cidr) this.podCidr = cidr;
    return {};
  }
}
