import type { CallContext } from '@conga/common';
import type { PodRecord } from '../pod-store';

/** Pod-level limits (CRI LinuxPodSandboxConfig.resources / overhead), applied to the pod cgroup. */
export interface PodResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
}

/**
 * How one kind of sandbox is made (Kuasar's sandbox controller, one per RuntimeClass handler).
 * The pod service owns the records; a sandboxer owns what backs them. `create` fills the
 * record's namespace paths, cgroup parent, /dev/shm and addresses and undoes its own partial
 * work when it fails. Every call is idempotent: stop/shutdown of what is already gone succeed.
 */
export interface Sandboxer {
  /** Make the sandbox's namespaces, network and cgroup; returns the record with them set. */
  create(pod: PodRecord, ctx: CallContext): Promise<PodRecord>;
  /** Make it usable by containers (the runc sandboxer has no process: nothing to start). */
  start(pod: PodRecord, ctx: CallContext): Promise<void>;
  /** Release the network (CNI DEL, host ports); namespaces stay until shutdown. */
  stop(pod: PodRecord, ctx: CallContext): Promise<void>;
  /** Resolves when the sandbox is shut down (exit code 0) or found broken (non-zero). */
  wait(pod: PodRecord): Promise<{ exitCode: number }>;
  /** Whether what backs the pod still exists (pinned namespaces after an engine restart). */
  status(pod: PodRecord): { alive: boolean; detail: string };
  /** Remove everything: namespaces, /dev/shm, the pod directory and cgroup. */
  shutdown(pod: PodRecord, ctx: CallContext): Promise<void>;
  update(pod: PodRecord, resources: PodResources, ctx: CallContext): Promise<void>;
}
