/**
 * The engine's container record. Config and HostConfig keep the Docker Engine API's field
 * names (what users and clients send and read back); State is Docker's too.
 */
export interface ContainerConfig {
  Image: string;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Hostname?: string;
  Domainname?: string;
  Labels?: Record<string, string> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  StopSignal?: string;
  StopTimeout?: number | null;
  Healthcheck?: HealthConfig | null;
  Volumes?: Record<string, object> | null;
}

/** docker's Healthcheck (durations in ns). Test: ["NONE"], ["CMD", ...] or ["CMD-SHELL", "..."]. */
export interface HealthConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/** docker's --mount (HostConfig.Mounts item). */
export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs' | string;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string } | null;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number } | null;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> } | null;
}

export interface HostConfig {
  AutoRemove?: boolean;
  NetworkMode?: string;
  RestartPolicy?: { Name: string; MaximumRetryCount?: number };
  LogConfig?: { Type: string; Config?: Record<string, string> };
  Dns?: string[] | null;
  DnsSearch?: string[] | null;
  ExtraHosts?: string[] | null;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Binds?: string[] | null;
  Mounts?: MountSpec[] | null;
  Tmpfs?: Record<string, string> | null;
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuQuota?: number;
  CpuPeriod?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  Ulimits?: { Name: string; Soft: number; Hard: number }[] | null;
  SecurityOpt?: string[] | null;
  /** Replace the default masked / read-only paths when non-empty (API 1.40). */
  MaskedPaths?: string[] | null;
  ReadonlyPaths?: string[] | null;
  Devices?: { PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }[] | null;
  Sysctls?: Record<string, string> | null;
  Init?: boolean | null;
  Runtime?: string;
  PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
  /** Conga: run systemd as init (iSulad's system container): cgroup and tmpfs mounts it needs. */
  SystemContainer?: boolean;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  OOMKilled: boolean;
  Health?: { Status: 'starting' | 'healthy' | 'unhealthy' | 'none'; FailingStreak: number; Log: { Start: string; End: string; ExitCode: number; Output: string }[] };
}

export interface ContainerRecord {
  Id: string;
  Name: string;
  Created: string;
  /** The image reference as the user gave it. */
  Image: string;
  /** The resolved image ID (sha256:...). */
  ImageID: string;
  /** The process: entrypoint + cmd resolved against the image config. */
  Path: string;
  Args: string[];
  Config: ContainerConfig;
  HostConfig: HostConfig;
  State: ContainerState;
  RestartCount: number;
  /** Top layer of the image (the rootfs is built on it). */
  ChainID: string;
  /** Stopped by the user (stop/kill): unless-stopped will not restart it. Not in Docker's JSON. */
  ManuallyStopped?: boolean;
  /** Set for a container of a CRI pod (never through the Engine API). Not in Docker's JSON. */
  Pod?: PodBinding;
}

/**
 * What a CRI pod gives its containers (set once by libs/cri at create). The pod owns the
 * namespaces, the network (CNI ran for the pod, not the container), the cgroup parent and
 * /dev/shm; the engine joins them instead of attaching the container to a network.
 */
export interface PodBinding {
  podId: string;
  /** The pod's pinned netns; null: the host's network. */
  netnsPath: string | null;
  /** The pod's pinned IPC / UTS namespaces; null: the host's. */
  ipcPath: string | null;
  utsPath: string | null;
  /**
   * pod: the pid namespace of the pod's first running container (there is no pause process:
   * it ends when that container exits, and the next container to start makes a new one);
   * container: a private one; host: the host's; target: that of the running container
   * `pidTarget` (kubectl debug --target).
   */
  pidMode: 'pod' | 'container' | 'host' | 'target';
  pidTarget?: string;
  cgroupParent: string;
  /** The pod's /dev/shm (a directory on a tmpfs) bound into each container; '': a private one. */
  shmPath: string;
  hostname: string;
  /** The pod's DNS config, written as /etc/resolv.conf; null: the host's resolv.conf. */
  dns: { servers: string[]; searches: string[]; options: string[] } | null;
  /** Where conmon writes the log (CRI format); '': no log file. */
  logPath: string;
  /** Supplemental group ids added to the process's groups (CRI supplemental_groups). */
  groups?: number[];
  /** Kept with the record for the CRI front-end (metadata, annotations, ...); opaque to the engine. */
  meta?: Record<string, unknown>;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function initialState(): ContainerState {
  return { Status: 'created', Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, OOMKilled: false };
}
