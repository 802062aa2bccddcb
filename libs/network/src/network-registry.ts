import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { E, type Logger } from '@conga/common';
import type { CniConfList } from './cni/types';
import { atomicWrite } from './util/atomic-write';
import { HOST_NETWORK, LOOPBACK_NETWORK, NONE_NETWORK, loopbackConfList } from './network-configs';

/** One CNI configuration to run for a container, on one interface. */
export interface NetworkStep {
  conflist: CniConfList;
  ifName: string;
}

/**
 * What attaching to a network means: "host" (no netns, nothing to run), or a netns plus CNI
 * steps run in order ("none": no steps, the runtime makes the netns and brings lo up; a CNI
 * network: loopback then the network on eth0).
 */
export interface NetworkPlan {
  name: string;
  netns: boolean;
  steps: NetworkStep[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Validate a conflist read from disk; returns it or throws E.NetworkConfigInvalid. */
export function parseConfList(file: string, text: string): CniConfList {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw E.NetworkConfigInvalid(file, `not JSON (${(e as Error).message})`);
  }
  const o = v as Partial<CniConfList>;
  if (!o || typeof o !== 'object') throw E.NetworkConfigInvalid(file, 'not a JSON object');
  if (typeof o.name !== 'string' || !NAME.test(o.name)) throw E.NetworkConfigInvalid(file, '"name" must be letters, digits, "_", "." or "-"');
  if (typeof o.cniVersion !== 'string') throw E.NetworkConfigInvalid(file, '"cniVersion" is missing');
  if (!Array.isArray(o.plugins) || o.plugins.length === 0) throw E.NetworkConfigInvalid(file, '"plugins" must be a non-empty list');
  for (const [i, p] of o.plugins.entries()) {
    if (!p || typeof p !== 'object' || typeof p.type !== 'string' || !p.type) throw E.NetworkConfigInvalid(file, `plugins[${i}] has no "type"`);
  }
  return o as CniConfList;
}

/**
 * The networks this service knows: "host", "none", and every `*.conflist` in the conf dir
 * (Conga writes its default bridge network there at start; user networks will be added the same
 * way). The dir is re-read when a name is not found, so new files are picked up without a
 * restart. A file that does not parse is reported when its network (its file name without
 * extension, as its own name is unreadable) is asked for. Owned by the network service.
 */
export class NetworkRegistry {
  private byName = new Map<string, CniConfList | Error>();
  private files = new Map<string, string>();
  private loading?: Promise<void>;

  constructor(
    private readonly confDir: string,
    private readonly log: Logger,
  ) {}

  /** Write (replace) a conflist of ours in the conf dir as `<name>.conflist`. */
  async install(list: CniConfList): Promise<void> {
    await mkdir(this.confDir, { recursive: true, mode: 0o755 });
    const file = join(this.confDir, `${list.name}.conflist`);
    await atomicWrite(file, JSON.stringify(list, null, 2) + '\n');
    this.byName.set(list.name, list);
    this.files.set(list.name, file);
  }

  /** Remove a network's conflist file (idempotent). */
  async uninstall(name: string): Promise<void> {
    const file = this.files.get(name) ?? join(this.confDir, `${name}.conflist`);
    await rm(file, { force: true });
    this.byName.delete(name);
    this.files.delete(name);
  }

  /** The conflist (or the error reading it) of a network, as last loaded. */
  get(name: string): CniConfList | Error | undefined {
    return this.byName.get(name);
  }

  /** The file a network was read from ("" if unknown). */
  fileOf(name: string): string {
    return this.files.get(name) ?? '';
  }

  /** Re-read the conf dir. */
  reload(): Promise<void> {
    this.loading ??= (async () => {
      const next = new Map<string, CniConfList | Error>();
      const files = new Map<string, string>();
      let names: string[] = [];
      try {
        names = (await readdir(this.confDir)).filter((n) => n.endsWith('.conflist')).sort();
      } catch {
        // no conf dir yet: only host and none exist
      }
      for (const n of names) {
        const file = join(this.confDir, n);
        try {
          const list = parseConfList(file, await readFile(file, 'utf8'));
          if (!next.has(list.name)) {
            next.set(list.name, list);
            files.set(list.name, file);
          }
        } catch (e) {
          this.log.warn({ file, err: e }, 'skipping invalid CNI network configuration');
          const stem = n.slice(0, -'.conflist'.length);
          if (!next.has(stem)) {
            next.set(stem, e as Error);
            files.set(stem, file);
          }
        }
      }
      this.byName = next;
      this.files = files;
    })().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Names of the CNI networks currently known (not counting host and none). */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** The plan for a network name; throws E.NetworkNotFound or E.NetworkConfigInvalid. */
  async plan(name: string): Promise<NetworkPlan> {
    if (name === HOST_NETWORK) return { name, netns: true, steps: [] };
    const lo: NetworkStep = { conflist: loopbackConfList(), ifName: 'lo' };
    // "none": the runtime makes the netns (runc brings lo up in it); nothing to run here.
    if (name === NONE_NETWORK) return { name, netns: true, steps: [] };
    if (name === LOOPBACK_NETWORK || !NAME.test(name)) throw E.NetworkNotFound(name);
    if (!this.byName.has(name)) await this.reload();
    const found = this.byName.get(name);
    if (found === undefined) throw E.NetworkNotFound(name);
    if (found instanceof Error) throw found;
    return { name, netns: true, steps: [lo, { conflist: found, ifName: 'eth0' }] };
  }
}
