/**
 * Test-only helpers for libs/image tests: a fresh image service over a real storage service in a
 * temp root. Never import from production code.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newContext, parseConfig, silentLogger, type Progress } from '@conga/common';
import { createStorageService } from '@conga/storage';
import { createImageService, type ImageServiceOptions, type LocalImageService } from './image-service';

export interface TestImageEnv {
  svc: LocalImageService;
  root: string;
  /** Files under blobs/sha256 and storage layers (to check that nothing was left behind). */
  blobs(): Promise<string[]>;
  layers(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** A fresh image service; `config` is daemon.json content. */
export async function imageEnv(config: Record<string, unknown> = {}, extra: Partial<ImageServiceOptions> = {}): Promise<TestImageEnv> {
  const log = silentLogger();
  const root = await mkdtemp(join(tmpdir(), 'conga-image-'));
  const storage = await createStorageService({ dir: join(root, 'storage'), log });
  const svc = await createImageService({ dir: join(root, 'image'), storage, config: parseConfig(config), log, retry: { baseMs: 20, capMs: 200 }, ...extra });
  return {
    svc,
    root,
    blobs: () => readdir(join(root, 'image', 'blobs', 'sha256')),
    layers: async () => (await readdir(join(root, 'storage', 'layers')).catch(() => [] as string[])).filter((n) => !n.startsWith('.')),
    async cleanup() {
      await svc.close();
      await storage.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A context collecting progress events. */
export function collecting(): { events: Progress[]; ctx: ReturnType<typeof newContext> } {
  const events: Progress[] = [];
  return { events, ctx: newContext(undefined, { onProgress: (p) => events.push(p) }) };
}
