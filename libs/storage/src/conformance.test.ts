import { join } from 'node:path';
import { silentLogger } from '@conga/common';
import { serveUnix, storageProxy } from '@conga/rpc';
import { conformance } from './testsuite';
import { tempDir } from './test-env';
import { createStorageService } from './storage-service';

conformance('storage (local)', async () => {
  const t = tempDir();
  const svc = await createStorageService({ dir: join(t.dir, 'storage'), log: silentLogger() });
  return {
    svc,
    async cleanup() {
      await svc.close();
      await t.cleanup();
    },
  };
});

conformance('storage (grpc proxy)', async () => {
  const t = tempDir();
  const local = await createStorageService({ dir: join(t.dir, 'storage'), log: silentLogger() });
  const sock = join(t.dir, 'storage.sock');
  const server = await serveUnix(sock, { storage: local }, silentLogger());
  const svc = storageProxy(sock);
  return {
    svc,
    async cleanup() {
      svc.close();
      await server.close();
      await local.close();
      await t.cleanup();
    },
  };
});
