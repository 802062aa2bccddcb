import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { layout, newContext, serviceNames, type DaemonConfig, type Logger, type Paths } from '@conga/common';
import { Containers } from './containers';
import { composeLocal, composeSplit, type Composed, type Mode } from './compose';
import type { Services } from './services';

export const CONGA_VERSION = '0.1.0';

export interface EngineOptions {
  mode: Mode;
  paths: Paths;
  config: Readonly<DaemonConfig>;
  log: Logger;
  /** Network for containers that ask for the default one (HostConfig.NetworkMode "default"/"bridge"). */
  defaultNetwork?: string;
  /** Use these services instead of composing them (tests). */
  services?: Services;
  /**
   * Other owners of ids the orphan reaper would otherwise remove (CRI pods own their netns):
   * given here so that the reap at start-up, before any front-end runs, already spares them.
   */
  resourceOwners?: Array<(id: string) => boolean>;
}

/**
 * congad's core: the composed services plus container metadata and lifecycle. The Engine API
 * (and later the CRI) are front-ends over this object.
 */
export class Engine {
  readonly id: string;
  readonly version = CONGA_VERSION;
  readonly gitCommit = process.env.CONGA_GIT_COMMIT ?? '';
  readonly containers: Containers;

  private constructor(
    readonly mode: Mode,
    readonly paths: Paths,
    readonly config: Readonly<DaemonConfig>,
    readonly services: Services,
    private readonly composed: Composed | undefined,
    readonly log: Logger,
    defaultNetwork: string,
    resourceOwners: Array<(id: string) => boolean> = [],
  ) {
    const dir = layout.engineDir(paths);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const idFile = join(dir, 'engine-id');
    if (!existsSync(idFile)) writeFileSync(idFile, randomUUID() + '\n', { mode: 0o600 });
    this.id = readFileSync(idFile, 'utf8').trim();
    this.containers = new Containers({ paths, config, services, log, defaultNetwork });
    for (const claims of resourceOwners) this.containers.addResourceOwner(claims);
  }

  static async open(opts: EngineOptions): Promise<Engine> {
    mkdirSync(opts.paths.root, { recursive: true, mode: 0o711 });
    mkdirSync(opts.paths.run, { recursive: true, mode: 0o711 });
    let composed: Composed | undefined;
    let services = opts.services;
    if (!services) {
      composed = opts.mode === 'split' ? await composeSplit(opts.paths, opts.config, opts.log) : await composeLocal(opts.paths, opts.config, opts.log);
      services = composed.services;
    }
    const engine = new Engine(opts.mode, opts.paths, opts.config, services, composed, opts.log, opts.defaultNetwork ?? 'conga0', opts.resourceOwners);
    await engine.containers.restore(newContext(opts.log));
    return engine;
  }

  /** What /info reports about the services behind this engine. */
  serviceInfo(): Array<{ Name: string; Transport: string; Address: string }> {
    return serviceNames.map((s) => ({
      Name: `${s}-service`,
      Transport: this.mode === 'split' ? 'grpc' : 'in-process',
      Address: this.mode === 'split' ? `unix://${layout.serviceSocket(this.paths, s)}` : '',
    }));
  }

  async close(): Promise<void> {
    await this.containers.close();
    await this.composed?.close();
  }
}
