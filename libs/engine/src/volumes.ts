import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E } from '@conga/common';

/** docker's volume JSON (GET /volumes/{name}). */
export interface Volume {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  Scope: 'local';
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * Named local volumes: `<root>/engine/volumes/<name>/_data` plus `volume.json`. One directory
 * per volume; creation is atomic (mkdir), so concurrent creates of one name agree. Which
 * containers use a volume is the engine's business (it refuses to remove one in use).
 */
export class VolumeStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private metaFile(name: string): string {
    return join(this.dir, name, 'volume.json');
  }

  /** Create (or, when it exists, return) a volume. */
  create(name: string, labels: Record<string, string> = {}, options: Record<string, string> = {}): Volume {
    if (!NAME_RE.test(name)) throw E.InvalidArgument(`invalid volume name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least two characters`);
    for (const k of Object.keys(options)) throw E.InvalidArgument(`volume option "${k}" is not supported by the local driver here`);
    const existing = this.find(name);
    if (existing) return existing;
    const vdir = join(this.dir, name);
    try {
      mkdirSync(vdir, { mode: 0o701 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        const v = this.find(name);
        if (v) return v;
      } else throw e;
    }
    mkdirSync(join(vdir, '_data'), { recursive: true, mode: 0o755 });
    const v: Volume = { Name: name, Driver: 'local', Mountpoint: join(vdir, '_data'), CreatedAt: new Date().toISOString(), Labels: labels, Options: options, Scope: 'local' };
    writeFileSync(`${this.metaFile(name)}.tmp`, JSON.stringify(v));
    renameSync(`${this.metaFile(name)}.tmp`, this.metaFile(name));
    return v;
  }

  find(name: string): Volume | undefined {
    if (!NAME_RE.test(name)) return undefined;
    try {
      return JSON.parse(readFileSync(this.metaFile(name), 'utf8')) as Volume;
    } catch {
      return undefined;
    }
  }

  get(name: string): Volume {
    const v = this.find(name);
    if (!v) throw E.VolumeNotFound(name);
    return v;
  }

  list(): Volume[] {
    return readdirSync(this.dir)
      .map((n) => this.find(n))
      .filter((v): v is Volume => !!v)
      .sort((a, b) => a.Name.localeCompare(b.Name));
  }

  remove(name: string): void {
    this.get(name);
    rmSync(join(this.dir, name), { recursive: true, force: true });
  }
}
