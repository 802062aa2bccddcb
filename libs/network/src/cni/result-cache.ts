import { mkdir, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWrite } from '../util/atomic-write';
import type { CniConfList, CniResult, CniRuntimeConf } from './types';

/**
 * One cached CNI attachment: the exact conflist used for ADD and its result, so DEL works after
 * a restart (and after the conflist file changed). Written before ADD (result absent: an ADD in
 * flight or interrupted) and again after it. Format version "conga.cni.v1"; may gain fields.
 */
export interface CniCacheEntry {
  kind: 'conga.cni.v1';
  containerId: string;
  networkName: string;
  ifName: string;
  netns: string;
  args?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  config: CniConfList;
  result?: CniResult;
  /** Order of ADD within the container (DEL goes from the highest down). */
  seq: number;
}

/** The on-disk cache: `<dir>/<containerId>/<networkName>-<ifName>.json`. */
export class CniResultCache {
  constructor(private readonly dir: string) {}

  private file(containerId: string, networkName: string, ifName: string): string {
    return join(this.dir, containerId, `${networkName}-${ifName}.json`);
  }

  async put(entry: CniCacheEntry): Promise<void> {
    await mkdir(join(this.dir, entry.containerId), { recursive: true, mode: 0o700 });
    await atomicWrite(this.file(entry.containerId, entry.networkName, entry.ifName), JSON.stringify(entry, null, 2), 0o600);
  }

  /** Every entry of a container, latest ADD first (the order DEL must go in). */
  async list(containerId: string): Promise<CniCacheEntry[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, containerId));
    } catch {
      return [];
    }
    const out: CniCacheEntry[] = [];
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      try {
        const e = JSON.parse(await readFile(join(this.dir, containerId, n), 'utf8')) as CniCacheEntry;
        if (e.kind === 'conga.cni.v1') out.push(e);
      } catch {
        // a torn or foreign file: ignore it, it will be removed with the container's dir
      }
    }
    return out.sort((a, b) => b.seq - a.seq);
  }

  async remove(entry: Pick<CniCacheEntry, 'containerId' | 'networkName' | 'ifName'>): Promise<void> {
    await rm(this.file(entry.containerId, entry.networkName, entry.ifName), { force: true });
  }

  /** Drop the container's cache dir (everything in it). */
  async removeAll(containerId: string): Promise<void> {
    await rm(join(this.dir, containerId), { recursive: true, force: true });
  }

  /** Remove the container's dir if nothing is left in it. */
  async prune(containerId: string): Promise<void> {
    await rmdir(join(this.dir, containerId)).catch(() => undefined);
  }

  static runtimeOf(e: CniCacheEntry, netns: string): CniRuntimeConf {
    return { containerId: e.containerId, netns, ifName: e.ifName, args: e.args, capabilityArgs: e.capabilityArgs };
  }
}
