import { totalmem } from 'node:os';
import type { TaskStats } from '@conga/api';
import type { ContainerRecord } from '../container-types';
import { ZERO_TIME } from '../container-types';

/** Docker's stats JSON (GET /containers/{id}/stats) from two samples (or one, or none). */
export function dockerStats(c: ContainerRecord, s: TaskStats | undefined, pre: TaskStats | undefined): Record<string, unknown> {
  const cpu = (x: TaskStats | undefined) =>
    x
      ? {
          cpu_usage: { total_usage: x.cpuTotalNs, percpu_usage: x.percpuNs.length ? x.percpuNs : undefined, usage_in_kernelmode: x.cpuSystemNs, usage_in_usermode: x.cpuUserNs },
          system_cpu_usage: x.systemCpuNs,
          online_cpus: x.onlineCpus,
          throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
        }
      : { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  const networks: Record<string, unknown> = {};
  for (const n of s?.networks ?? []) {
    networks[n.interface] = { rx_bytes: n.rxBytes, rx_packets: n.rxPackets, rx_errors: n.rxErrors, rx_dropped: n.rxDropped, tx_bytes: n.txBytes, tx_packets: n.txPackets, tx_errors: n.txErrors, tx_dropped: n.txDropped };
  }
  const blk = (op: 'Read' | 'Write', v: number) => ({ major: 0, minor: 0, op, value: v });
  return {
    read: s?.read ?? ZERO_TIME,
    preread: pre?.read ?? ZERO_TIME,
    pids_stats: s ? { current: s.pidsCurrent, ...(s.pidsLimit ? { limit: s.pidsLimit } : {}) } : {},
    blkio_stats: {
      io_service_bytes_recursive: s ? [blk('Read', s.blkioReadBytes), blk('Write', s.blkioWriteBytes)] : null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu(s),
    precpu_stats: cpu(pre),
    memory_stats: s ? { usage: s.memoryUsage, max_usage: s.memoryMaxUsage || undefined, stats: s.memoryStat, limit: s.memoryLimit || totalmem() } : {},
    name: `/${c.Name}`,
    id: c.Id,
    ...(s && s.networks.length ? { networks } : {}),
  };
}
