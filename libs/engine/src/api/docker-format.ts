import type { Image } from '@conga/api';
import type { Progress } from '@conga/common';
import type { ContainerRecord } from '../container-types';
import { DEFAULT_NETWORK, settingsOf, summaryPorts } from '../network-settings';

/** Docker Engine API shapes built from Conga's records (one place for every translation). */

export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/** The JSON object of one progress message, as dockerd streams it on pull. */
export function progressMessage(p: Progress): Record<string, unknown> {
  const msg: Record<string, unknown> = { status: p.status };
  if (p.id) msg.id = p.id;
  if (p.total > 0 || p.current > 0) {
    msg.progressDetail = { current: p.current, total: p.total };
    if (p.total > 0) {
      const width = 50;
      const filled = Math.max(0, Math.min(width, Math.floor((p.current / p.total) * width)));
      const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? '>' : '') + ' '.repeat(width - filled);
      msg.progress = `[${bar}] ${humanSize(p.current)}/${humanSize(p.total)}`;
    }
  } else {
    msg.progressDetail = {};
  }
  return msg;
}

export function imageSummary(img: Image, containers: number): Record<string, unknown> {
  let labels: Record<string, string> | null = null;
  try {
    labels = JSON.parse(img.configJson)?.config?.Labels ?? null;
  } catch {
    /* keep null */
  }
  const tags = img.repoTags.length ? img.repoTags : [];
  return {
    Id: img.id,
    ParentId: '',
    RepoTags: tags,
    RepoDigests: img.repoDigests,
    Created: Math.floor(Date.parse(img.created || '1970-01-01T00:00:00Z') / 1000),
    Size: img.size,
    VirtualSize: img.size,
    SharedSize: -1,
    Labels: labels,
    Containers: containers,
  };
}

export function imageInspect(img: Image): Record<string, unknown> {
  let cfg: Record<string, any> = {};
  try {
    cfg = JSON.parse(img.configJson);
  } catch {
    /* keep empty */
  }
  return {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: '',
    Comment: cfg.comment ?? '',
    Created: img.created,
    Container: '',
    ContainerConfig: cfg.container_config ?? {},
    DockerVersion: cfg.docker_version ?? '',
    Author: cfg.author ?? '',
    Config: cfg.config ?? {},
    Architecture: cfg.architecture ?? img.platform?.architecture ?? '',
    Variant: cfg.variant ?? img.platform?.variant ?? undefined,
    Os: cfg.os ?? img.platform?.os ?? '',
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Name: 'overlay2', Data: null },
    RootFS: { Type: 'layers', Layers: img.diffIds },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.round(s / 86400);
  if (d < 14) return `${d} days`;
  return `${Math.round(d / 7)} weeks`;
}

/** docker ps's Status column. */
export function statusText(c: ContainerRecord): string {
  switch (c.State.Status) {
    case 'running': {
      // docker: "(health: starting)", "(healthy)", "(unhealthy)".
      const h = c.State.Health?.Status;
      const suffix = h === 'starting' ? ' (health: starting)' : h === 'healthy' || h === 'unhealthy' ? ` (${h})` : '';
      return `Up ${ago(c.State.StartedAt)}${suffix}`;
    }
    case 'paused':
      return `Up ${ago(c.State.StartedAt)} (Paused)`;
    case 'exited':
      return `Exited (${c.State.ExitCode}) ${ago(c.State.FinishedAt)} ago`;
    case 'created':
      return 'Created';
    case 'removing':
      return 'Removal In Progress';
    default:
      return c.State.Status;
  }
}


export function containerSummary(c: ContainerRecord): Record<string, unknown> {
  const net = c.HostConfig.NetworkMode || 'default';
  const settings = settingsOf(c, DEFAULT_NETWORK);
  return {
    Id: c.Id,
    Names: [`/${c.Name}`],
    Image: c.Image,
    ImageID: c.ImageID,
    // dockerd joins path and args with spaces, unquoted.
    Command: [c.Path, ...c.Args].join(' '),
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: summaryPorts(settings),
    Labels: c.Config.Labels ?? {},
    State: c.State.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: net },
    NetworkSettings: { Networks: settings.Networks ?? {} },
    Mounts: [],
  };
}

export function containerInspect(c: ContainerRecord, logPath: string): Record<string, unknown> {
  const s = c.State;
  return {
    Id: c.Id,
    Created: c.Created,
    Path: c.Path,
    Args: c.Args,
    State: {
      Status: s.Status,
      Running: s.Status === 'running' || s.Status === 'paused',
      Paused: s.Status === 'paused',
      Restarting: s.Status === 'restarting',
      OOMKilled: s.OOMKilled,
      Dead: s.Status === 'dead',
      Pid: s.Pid,
      ExitCode: s.ExitCode,
      Error: s.Error,
      StartedAt: s.StartedAt,
      FinishedAt: s.FinishedAt,
      ...(s.Health ? { Health: s.Health } : {}),
    },
    Image: c.ImageID,
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    LogPath: logPath,
    Name: `/${c.Name}`,
    RestartCount: c.RestartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    HostConfig: c.HostConfig,
    GraphDriver: { Name: 'overlay2', Data: null },
    Mounts: [],
    Config: { ...c.Config, Image: c.Image },
    NetworkSettings: settingsOf(c, DEFAULT_NETWORK),
  };
}
