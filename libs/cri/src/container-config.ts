import { readFileSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import { E } from '@conga/common';
import type { CreateContainerBody, HostConfig, MountSpec, PodBinding } from '@conga/engine';
import type { ContainerConfig } from '@conga/api/src/generated/runtime/v1/ContainerConfig';
import type { LinuxContainerResources } from '@conga/api/src/generated/runtime/v1/LinuxContainerResources';
import type { Mount as CriMount } from '@conga/api/src/generated/runtime/v1/Mount';
import type { SecurityProfile } from '@conga/api/src/generated/runtime/v1/SecurityProfile';

/**
 * CRI ContainerConfig (+ the pod it goes into) → the engine's create request: a Docker-shaped
 * body (so HostConfig validation and spec generation are shared with the Engine API) and the
 * {@link PodBinding}. Pure apart from stat() of bind sources (by the engine) and reading a
 * Localhost seccomp profile. Owner: libs/cri (containers).
 *
 * Semantics follow kubelet/containerd: `command` replaces the image ENTRYPOINT (and drops its
 * CMD), `args` replace CMD; memory swap = memory limit unless given (no swap); seccomp is
 * unconfined unless a profile is asked for; masked_paths and readonly_paths are used as given
 * (kubelet sends the full lists; empty ones, its Unmasked procMount, mask nothing); SELinux and AppArmor are accepted and ignored.
 */

/** What the container service knows about the pod a container goes into. */
export interface PodInfo {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  netnsPath: string | null;
  ipcPath: string | null;
  utsPath: string | null;
  cgroupParent: string;
  shmPath: string;
  hostname: string;
  logDirectory: string;
  dns: PodBinding['dns'];
}

/** CRI fields kept with the engine record (PodBinding.meta) for status and list. */
export interface CriMeta {
  name: string;
  attempt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  image: string;
  /** The image's repo digest ("repo@sha256:...") when it had one at create time; ContainerStatus.imageRef. */
  imageRef?: string;
  mounts: { containerPath: string; hostPath: string; readonly: boolean; propagation: string }[];
  resources: ReturnType<typeof linuxResources>;
}

export interface EngineCreate {
  body: CreateContainerBody;
  name: string;
  pod: PodBinding;
  warnings: string[];
}

/** Label on every CRI container (shown by `conga ps`) naming its pod sandbox. */
export const POD_ID_LABEL = 'io.kubernetes.sandbox.id';

type Int64 = number | string | { toString(): string } | null | undefined;
const num = (v: Int64): number => Number(v ?? 0);
const enumName = (v: unknown, names: readonly string[], dflt: string): string => (typeof v === 'number' ? (names[v] ?? dflt) : typeof v === 'string' && v ? v : dflt);

const PROPAGATION: Record<string, string> = {
  PROPAGATION_PRIVATE: 'rprivate',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};
const NS_MODES = ['POD', 'CONTAINER', 'NODE', 'TARGET'] as const;
const PROFILE_TYPES = ['RuntimeDefault', 'Unconfined', 'Localhost'] as const;

/** The engine container name: unique per (pod, container name, attempt), like containerd's. */
export function containerName(pod: Pick<PodInfo, 'name' | 'namespace' | 'uid'>, name: string, attempt: number): string {
  return [name, pod.name, pod.namespace, pod.uid, String(attempt)].join('_');
}

/** `log_directory`/`log_path`, refusing a path that leaves the pod's log directory. */
export function containerLogPath(logDirectory: string, logPath: string): string {
  if (!logPath) return '';
  if (!logDirectory) throw E.InvalidArgument(`log_path "${logPath}" needs the pod's log_directory: set log_directory in the PodSandboxConfig`);
  if (isAbsolute(logPath) || logPath.split('/').includes('..')) throw E.InvalidArgument(`log_path "${logPath}" must be relative to the pod's log directory and must not contain ".."`);
  return join(logDirectory, posix.normalize(logPath));
}

/** CRI LinuxContainerResources → engine HostConfig fields (with warnings for what is ignored). */
export function linuxResources(r: LinuxContainerResources | null | undefined, warnings: string[]) {
  const memory = num(r?.memoryLimitInBytes);
  const swap = num(r?.memorySwapLimitInBytes);
  for (const [k, v] of Object.entries({ cpuPeriod: r?.cpuPeriod, cpuQuota: r?.cpuQuota, cpuShares: r?.cpuShares, memoryLimitInBytes: r?.memoryLimitInBytes })) {
    if (num(v) < 0 && !(k === 'cpuQuota' && num(v) === -1)) throw E.InvalidArgument(`linux.resources.${k} must not be negative (got ${num(v)})`);
  }
  if (r?.hugepageLimits?.length) warnings.push('hugepage limits are not supported yet and were ignored');
  if (r && Object.keys(r.unified ?? {}).length) warnings.push('unified (cgroup v2) resources are not supported yet and were ignored');
  if (num(r?.oomScoreAdj)) warnings.push('oom_score_adj is not supported yet and was ignored');
  return {
    CpuPeriod: num(r?.cpuPeriod),
    CpuQuota: Math.max(0, num(r?.cpuQuota)),
    CpuShares: num(r?.cpuShares),
    Memory: memory,
    // Kubernetes runs without swap: swap limit = memory limit unless given.
    MemorySwap: memory > 0 ? (swap > 0 ? swap : memory) : 0,
    CpusetCpus: r?.cpusetCpus ?? '',
    CpusetMems: r?.cpusetMems ?? '',
  };
}

function mountsOf(mounts: CriMount[]): { specs: MountSpec[]; meta: CriMeta['mounts'] } {
  const specs: MountSpec[] = [];
  const meta: CriMeta['mounts'] = [];
  for (const m of mounts) {
    if (!m.containerPath) throw E.InvalidArgument('a mount has no container_path: give the absolute path inside the container');
    if (!m.hostPath || !isAbsolute(m.hostPath)) throw E.InvalidArgument(`mount ${m.containerPath}: host_path "${m.hostPath ?? ''}" must be an absolute path`);
    if (m.uidMappings?.length || m.gidMappings?.length) throw E.InvalidArgument(`mount ${m.containerPath}: id-mapped mounts are not supported`);
    const prop = enumName(m.propagation, Object.keys(PROPAGATION), 'PROPAGATION_PRIVATE');
    if (!PROPAGATION[prop]) throw E.InvalidArgument(`mount ${m.containerPath}: unknown propagation "${prop}"`);
    specs.push({ Type: 'bind', Source: m.hostPath, Target: m.containerPath, ReadOnly: !!m.readonly, BindOptions: { Propagation: PROPAGATION[prop] } });
    meta.push({ containerPath: m.containerPath, hostPath: m.hostPath, readonly: !!m.readonly, propagation: prop });
  }
  return { specs, meta };
}

/** The `seccomp=...` security option of a profile (containerd: unconfined when none is asked for). */
export function seccompOption(p: SecurityProfile | null | undefined, legacyPath: string | undefined): string | undefined {
  let type: string;
  let ref = '';
  if (p) {
    type = enumName(p.profileType, PROFILE_TYPES, 'RuntimeDefault');
    ref = p.localhostRef ?? '';
  } else if (legacyPath === 'runtime/default' || legacyPath === 'docker/default') type = 'RuntimeDefault';
  else if (legacyPath?.startsWith('localhost/')) [type, ref] = ['Localhost', legacyPath.slice('localhost/'.length)];
  else if (!legacyPath || legacyPath === 'unconfined') type = 'Unconfined';
  else throw E.InvalidArgument(`unknown seccomp profile path "${legacyPath}": use runtime/default, unconfined or localhost/<path>`);
  switch (type) {
    case 'RuntimeDefault':
      return undefined;
    case 'Unconfined':
      return 'seccomp=unconfined';
    case 'Localhost': {
      if (!isAbsolute(ref)) throw E.InvalidArgument(`seccomp Localhost profile "${ref}" must be an absolute path on the node`);
      let text: string;
      try {
        text = readFileSync(ref, 'utf8');
        JSON.parse(text);
      } catch (e) {
        throw E.InvalidArgument(`seccomp Localhost profile ${ref} cannot be used: ${(e as Error).message}`);
      }
      return `seccomp=${text}`;
    }
    default:
      throw E.InvalidArgument(`unknown seccomp profile type "${type}": use RuntimeDefault, Unconfined or Localhost`);
  }
}

function checkIdValue(v: Int64, what: string): number {
  const n = num(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xfffffffe) throw E.InvalidArgument(`${what} ${String(v)} is not a valid id: use 0..4294967294`);
  return n;
}

/** Translate a CreateContainer request for `pod` into the engine's create call. */
export function toEngineCreate(cfg: ContainerConfig | null | undefined, pod: PodInfo): EngineCreate {
  if (!cfg) throw E.InvalidArgument('CreateContainer needs a config');
  const name = cfg.metadata?.name ?? '';
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw E.InvalidArgument(`container name "${name}" is invalid: use letters, digits, "_", "." and "-" (metadata.name)`);
  const attempt = num(cfg.metadata?.attempt);
  const image = cfg.image?.image ?? '';
  if (!image) throw E.InvalidArgument('config.image.image is required: name the image (reference or id) to run');
  const warnings: string[] = [];
  const env = (cfg.envs ?? []).map((kv) => {
    if (!kv.key || kv.key.includes('=')) throw E.InvalidArgument(`environment variable name "${kv.key ?? ''}" is invalid`);
    return `${kv.key}=${kv.value ?? ''}`;
  });
  if (cfg.workingDir && !isAbsolute(cfg.workingDir)) throw E.InvalidArgument(`working_dir "${cfg.workingDir}" must be an absolute path`);
  const linux = cfg.linux ?? undefined;
  const sc = linux?.securityContext ?? undefined;
  const { specs: mounts, meta: mountMeta } = mountsOf(cfg.mounts ?? []);
  const resources = linuxResources(linux?.resources, warnings);

  let user = '';
  if (sc?.runAsUsername) user = sc.runAsUsername;
  else if (sc?.runAsUser) user = String(checkIdValue(sc.runAsUser.value, 'run_as_user'));
  if (sc?.runAsGroup) {
    if (!user) throw E.InvalidArgument('run_as_group needs run_as_user or run_as_username');
    user += `:${checkIdValue(sc.runAsGroup.value, 'run_as_group')}`;
  }
  const groups = (sc?.supplementalGroups ?? []).map((g) => checkIdValue(g as Int64, 'supplemental group'));

  const ns = sc?.namespaceOptions ?? undefined;
  const pidMode = enumName(ns?.pid, NS_MODES, 'POD');
  if (pidMode === 'TARGET' && !ns?.targetId) throw E.InvalidArgument('pid namespace mode TARGET needs namespace_options.target_id: the container whose pid namespace to join');

  const securityOpt: string[] = [];
  if (sc?.noNewPrivs) securityOpt.push('no-new-privileges');
  const seccomp = sc?.privileged ? undefined : seccompOption(sc?.seccomp, sc?.seccompProfilePath);
  if (seccomp) securityOpt.push(seccomp);
  // kubelet sends the complete lists: no defaults under them, and an empty list is no paths.
  if (sc && !sc.privileged) securityOpt.push('systempaths=unconfined');

  const caps = sc?.capabilities ?? undefined;
  if (caps?.addAmbientCapabilities?.length) warnings.push('ambient capabilities are not supported yet and were ignored');
  const hc: HostConfig = {
    NetworkMode: pod.netnsPath === null ? 'host' : 'none',
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    Privileged: !!sc?.privileged,
    ReadonlyRootfs: !!sc?.readonlyRootfs,
    CapAdd: caps?.addCapabilities ?? [],
    CapDrop: caps?.dropCapabilities ?? [],
    SecurityOpt: securityOpt,
    ...(sc && !sc.privileged ? { MaskedPaths: [...(sc.maskedPaths ?? [])], ReadonlyPaths: [...(sc.readonlyPaths ?? [])] } : {}),
    Mounts: mounts,
    Devices: (cfg.devices ?? []).map((d) => ({ PathOnHost: d.hostPath ?? '', PathInContainer: d.containerPath || d.hostPath || '', CgroupPermissions: d.permissions || 'rwm' })),
    ...resources,
  };
  const labels = { ...(cfg.labels ?? {}) };
  const meta: CriMeta = { name, attempt, labels, annotations: { ...(cfg.annotations ?? {}) }, image, mounts: mountMeta, resources };
  const body: CreateContainerBody = {
    Image: image,
    ...(cfg.command?.length ? { Entrypoint: [...cfg.command] } : {}),
    ...(cfg.args?.length ? { Cmd: [...cfg.args] } : {}),
    Env: env,
    WorkingDir: cfg.workingDir ?? '',
    User: user,
    Hostname: pod.hostname,
    Tty: !!cfg.tty,
    OpenStdin: !!cfg.stdin,
    StdinOnce: !!cfg.stdinOnce,
    Labels: {
      ...labels,
      [POD_ID_LABEL]: pod.id,
      'io.kubernetes.pod.name': pod.name,
      'io.kubernetes.pod.namespace': pod.namespace,
      'io.kubernetes.pod.uid': pod.uid,
      'io.kubernetes.container.name': name,
    },
    HostConfig: hc,
  } as CreateContainerBody;
  const binding: PodBinding = {
    podId: pod.id,
    netnsPath: pod.netnsPath,
    ipcPath: ns && enumName(ns.ipc, NS_MODES, 'POD') === 'NODE' ? null : pod.ipcPath,
    utsPath: pod.utsPath,
    pidMode: pidMode === 'NODE' ? 'host' : pidMode === 'CONTAINER' ? 'container' : pidMode === 'TARGET' ? 'target' : 'pod',
    ...(pidMode === 'TARGET' ? { pidTarget: ns!.targetId! } : {}),
    cgroupParent: pod.cgroupParent,
    shmPath: pod.shmPath,
    hostname: pod.hostname,
    dns: pod.dns,
    logPath: containerLogPath(pod.logDirectory, cfg.logPath ?? ''),
    ...(groups.length ? { groups } : {}),
    meta: meta as unknown as Record<string, unknown>,
  };
  return { body, name: containerName(pod, name, attempt), pod: binding, warnings };
}

/** The CRI fields kept with an engine record (undefined for a container made by the Engine API). */
export function criMeta(pod: PodBinding | undefined): CriMeta | undefined {
  return pod?.meta as unknown as CriMeta | undefined;
}
