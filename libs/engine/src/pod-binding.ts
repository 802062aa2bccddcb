import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E } from '@conga/common';
import type { ContainerSpec, Mount } from '@conga/api';
import type { ContainerRecord, PodBinding } from './container-types';

/**
 * How a container of a CRI pod joins its pod (see {@link PodBinding}): the executor spec's
 * namespace paths, the pod's cgroup parent and /dev/shm, and /etc/hostname, /etc/hosts and
 * /etc/resolv.conf written into the container directory. Owner: engine (CRI containers).
 */

const bind = (destination: string, source: string, ro = false): Mount => ({ destination, source, type: 'bind', options: ['rbind', 'rprivate', ...(ro ? ['ro'] : [])] });

/** The resolv.conf text of a pod's DNS config (kubelet's ClusterFirst etc. arrive resolved). */
export function resolvConf(dns: NonNullable<PodBinding['dns']>): string {
  const lines = dns.servers.map((s) => `nameserver ${s}`);
  if (dns.searches.length) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options.length) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Write hostname, hosts and resolv.conf into `dir` and return the mounts for them and /dev/shm. */
export function podMounts(dir: string, pod: PodBinding): Mount[] {
  const hostname = pod.utsPath === null ? readOr('/etc/hostname', 'localhost\n') : `${pod.hostname}\n`;
  writeFileSync(join(dir, 'hostname'), hostname, { mode: 0o644 });
  const hosts = pod.netnsPath === null
    ? readOr('/etc/hosts', '127.0.0.1\tlocalhost\n')
    : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${pod.hostname}\n`;
  writeFileSync(join(dir, 'hosts'), hosts, { mode: 0o644 });
  writeFileSync(join(dir, 'resolv.conf'), pod.dns ? resolvConf(pod.dns) : readOr('/etc/resolv.conf', ''), { mode: 0o644 });
  const mounts = [bind('/etc/hostname', join(dir, 'hostname')), bind('/etc/hosts', join(dir, 'hosts')), bind('/etc/resolv.conf', join(dir, 'resolv.conf'))];
  if (pod.shmPath) mounts.push(bind('/dev/shm', pod.shmPath));
  return mounts;
}

/**
 * The pid namespace for a container with pidMode "pod": that of the pod's oldest running
 * container, or "" (a new one, which later containers join) when none runs; "target": that of
 * the target container, which must be running.
 */
export function podPidPath(self: ContainerRecord, all: ContainerRecord[]): string {
  const pod = self.Pod!;
  if (pod.pidMode === 'host') return 'host';
  if (pod.pidMode === 'container') return '';
  if (pod.pidMode === 'target') {
    const t = all.find((c) => c.Id === pod.pidTarget);
    if (!t || !(t.State.Status === 'running' || t.State.Status === 'paused') || t.State.Pid <= 0) throw E.ContainerNotRunning(pod.pidTarget ?? '');
    return `/proc/${t.State.Pid}/ns/pid`;
  }
  const peers = all
    .filter((c) => c.Id !== self.Id && c.Pod?.podId === pod.podId && c.Pod.pidMode === 'pod' && (c.State.Status === 'running' || c.State.Status === 'paused') && c.State.Pid > 0)
    .sort((a, b) => a.State.StartedAt.localeCompare(b.State.StartedAt));
  return peers.length ? `/proc/${peers[0].State.Pid}/ns/pid` : '';
}

/** The executor spec fields the pod decides. */
export function podSpec(pod: PodBinding, pidPath: string): Pick<ContainerSpec, 'netnsPath' | 'ipcPath' | 'utsPath' | 'pidPath' | 'cgroupParent' | 'hostname'> {
  return {
    netnsPath: pod.netnsPath ?? 'host',
    ipcPath: pod.ipcPath ?? 'host',
    utsPath: pod.utsPath ?? 'host',
    pidPath,
    cgroupParent: pod.cgroupParent,
    hostname: pod.hostname,
  };
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
