import { cpus, hostname, release, totalmem } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine';
import { describeServices } from '../compose';
import { E, dirSize } from '@conga/common';
import { API_VERSION, MIN_API_VERSION, ctxOf } from './server';
import { containerSummary, imageSummary } from './docker-format';
import { containerSizes } from './container-size';

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

/** /_ping, /version, /info, /system/df; /build answers not implemented. */
export function registerSystemRoutes(app: FastifyInstance, engine: Engine): void {
  const ping = async (_req: unknown, reply: import('fastify').FastifyReply) => {
    reply.header('Cache-Control', 'no-cache, no-store, must-revalidate').header('Pragma', 'no-cache').header('Builder-Version', '1');
    return reply.type('text/plain; charset=utf-8').send('OK');
  };
  app.get('/_ping', ping);

  app.get('/version', async () => ({
    Platform: { Name: 'Conga' },
    Components: [
      { Name: 'Engine', Version: engine.version, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Mode: engine.mode, Os: 'linux', Arch: 'amd64', KernelVersion: release() } },
    ],
    Version: engine.version,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: engine.gitCommit,
    GoVersion: `node ${process.version}`,
    Os: 'linux',
    Arch: process.arch === 'x64' ? 'amd64' : process.arch,
    KernelVersion: release(),
    BuildTime: '',
  }));

  // Disk usage as `docker system df` reads it: image sizes, each container's writable layer
  // (walked by the storage service) and each volume's contents.
  app.get('/system/df', async (req) => {
    const all = engine.containers.list(true);
    const byImage = new Map<string, number>();
    for (const c of all) byImage.set(c.ImageID, (byImage.get(c.ImageID) ?? 0) + 1);
    const { images } = await engine.services.image.listImages({}, ctxOf(req));
    const imgs: Record<string, unknown>[] = images.map((img) => ({ ...imageSummary(img, byImage.get(img.id) ?? 0), SharedSize: 0 }));
    const layersSize = imgs.reduce((n, i) => n + (Number(i.Size) || 0), 0);
    const volumes = await Promise.all(
      engine.containers.volumes.list().map(async (v) => ({ ...v, UsageData: { Size: await dirSize(v.Mountpoint), RefCount: engine.containers.volumeUsers(v.Name).length } })),
    );
    const sizes = await containerSizes(engine, ctxOf(req));
    return {
      LayersSize: layersSize,
      Images: imgs,
      Containers: all.map((c) => ({ ...containerSummary(c), SizeRw: 0, SizeRootFs: 0, ...sizes.get(c.Id) })),
      Volumes: volumes,
      BuildCache: [],
    };
  });

  app.post('/build', async () => {
    throw E.NotImplemented('POST /build (docker build; build the image elsewhere, then pull it from a registry or `docker load` it)');
  });

  app.get('/info', async (req) => {
    const all = engine.containers.list(true);
    const count = (s: string) => all.filter((c) => c.State.Status === s).length;
    const images = await engine.services.image.listImages({}, ctxOf(req));
    const cfg = engine.config;
    return {
      ID: engine.id,
      Containers: all.length,
      ContainersRunning: count('running'),
      ContainersPaused: count('paused'),
      ContainersStopped: all.length - count('running') - count('paused'),
      Images: images.images.length,
      Driver: cfg['storage-driver'],
      DriverStatus: [['Backing Filesystem', 'extfs']],
      DockerRootDir: engine.paths.root,
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Log: ['json-file', 'k8s-file', 'none'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      Debug: cfg['log-level'] === 'debug' || cfg['log-level'] === 'trace',
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: cfg['log-driver'],
      CgroupDriver: 'cgroupfs',
      CgroupVersion: existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1',
      KernelVersion: release(),
      OperatingSystem: osName(),
      OSType: 'linux',
      Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
      NCPU: cpus().length,
      MemTotal: totalmem(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: {}, Mirrors: hubMirrors(cfg['registry-mirrors']) },
      Name: hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: engine.version,
      Runtimes: Object.fromEntries(Object.entries(cfg.runtimes).map(([k, v]) => [k, { path: v.path, runtimeArgs: v.runtimeArgs ?? [] }])),
      DefaultRuntime: cfg['default-runtime'],
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: '',
      SecurityOptions: ['name=cgroupns'],
      Warnings: [],
      Conga: { Mode: engine.mode, RunDir: engine.paths.run, ...(await describeServices(engine.services)) },
    };
  });
}

/** docker's /info lists Docker Hub's mirrors (daemon.json may give per-registry lists). */
function hubMirrors(m: string[] | Record<string, string[]>): string[] {
  return Array.isArray(m) ? m : (m['docker.io'] ?? []);
}
