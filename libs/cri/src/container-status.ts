import type { ContainerRecord } from '@conga/engine';
import { criMeta } from './container-config';
import { toNs } from './stats';

/**
 * The CRI views of an engine container (ListContainers entry, ContainerStatus), shared by the
 * ContainerService, PodSandboxStatus and container events so that they always agree.
 * Pure functions of the record: no engine calls, safe inside an event emit.
 */

/** CRI state of an engine container. */
export function criState(c: ContainerRecord): string {
  switch (c.State.Status) {
    case 'created':
      return 'CONTAINER_CREATED';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'CONTAINER_RUNNING';
    case 'exited':
    case 'dead':
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

/** Why an exited container stopped, in kubelet's words. */
function exitReason(c: ContainerRecord): string {
  if (criState(c) !== 'CONTAINER_EXITED') return '';
  if (c.State.OOMKilled) return 'OOMKilled';
  return c.State.ExitCode === 0 ? 'Completed' : 'Error';
}

/** The ListContainers entry of a CRI container (imageRef is the image id there, as containerd). */
export function containerSummary(c: ContainerRecord) {
  const m = criMeta(c.Pod)!;
  return {
    id: c.Id,
    podSandboxId: c.Pod!.podId,
    metadata: { name: m.name, attempt: m.attempt },
    image: { image: m.image, annotations: {} },
    imageRef: c.ImageID,
    imageId: c.ImageID,
    state: criState(c),
    createdAt: toNs(c.Created),
    labels: m.labels,
    annotations: m.annotations,
  };
}

/**
 * The CRI ContainerStatus of a record. imageRef is the image's repo digest when it had one at
 * create time (containerd answers repoDigests[0]), else the image id.
 */
export function containerStatus(c: ContainerRecord) {
  const m = criMeta(c.Pod)!;
  const hc = c.HostConfig;
  return {
    ...containerSummary(c),
    imageRef: m.imageRef || c.ImageID,
    startedAt: toNs(c.State.StartedAt),
    finishedAt: criState(c) === 'CONTAINER_EXITED' ? toNs(c.State.FinishedAt) : 0,
    exitCode: c.State.ExitCode,
    reason: exitReason(c),
    message: c.State.Error,
    mounts: m.mounts.map((x) => ({ containerPath: x.containerPath, hostPath: x.hostPath, readonly: x.readonly, propagation: x.propagation })),
    logPath: c.Pod!.logPath,
    resources: {
      linux: {
        cpuPeriod: hc.CpuPeriod ?? 0,
        cpuQuota: hc.CpuQuota ?? 0,
        cpuShares: hc.CpuShares ?? 0,
        memoryLimitInBytes: hc.Memory ?? 0,
        memorySwapLimitInBytes: hc.MemorySwap ?? 0,
        cpusetCpus: hc.CpusetCpus ?? '',
        cpusetMems: hc.CpusetMems ?? '',
      },
    },
  };
}
