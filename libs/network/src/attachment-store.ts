import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Attachment } from '@conga/api';
import { atomicWrite } from './util/atomic-write';

/**
 * Attachment records, one JSON file per container under `<dir>/attachments/<id>.json`. A record
 * is written last by attach and removed last by detach, so its presence means "attached".
 * Owned by the network service.
 */
export class AttachmentStore {
  constructor(private readonly dir: string) {}

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  async get(id: string): Promise<Attachment | undefined> {
    try {
      return JSON.parse(await readFile(this.file(id), 'utf8')) as Attachment;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(a: Attachment): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await atomicWrite(this.file(a.containerId), JSON.stringify(a, null, 2), 0o600);
  }

  async remove(id: string): Promise<void> {
    await rm(this.file(id), { force: true });
  }

  async list(): Promise<Attachment[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: Attachment[] = [];
    for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
      const a = await this.get(n.slice(0, -5)).catch(() => undefined);
      if (a) out.push(a);
    }
    return out;
  }
}
