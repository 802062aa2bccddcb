import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@conga/common';
import { mountsUnder } from './mountinfo';
import { unmountAllUnder } from './overlay';
import { createStorageService, type LocalStorageService } from './storage-service';

/** A temp dir for one test; `cleanup` unmounts anything left below it and deletes it. Test helper. */
export function tempDir(prefix = 'conga-storage-'): { dir: string; cleanup(): Promise<void> } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  return {
    dir,
    async cleanup() {
      await unmountAllUnder(dir);
      if (mountsUnder(dir).length) throw new Error(`mounts left under ${dir}: ${mountsUnder(dir).join(', ')}`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A storage service in a fresh temp dir (blobs go to `<dir>/blobs`-style paths the test picks). */
export async function tempStorage(): Promise<{ dir: string; storageDir: string; svc: LocalStorageService; cleanup(): Promise<void> }> {
  const t = tempDir();
  const storageDir = join(t.dir, 'storage');
  const svc = await createStorageService({ dir: storageDir, log: silentLogger() });
  return {
    dir: t.dir,
    storageDir,
    svc,
    async cleanup() {
      await svc.close();
      await t.cleanup();
    },
  };
}
