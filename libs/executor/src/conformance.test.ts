import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@conga/common';
import { executorProxy, serveUnix } from '@conga/rpc';
import { createExecutorService } from './executor-service';
import { conformance } from './testsuite';

conformance('local', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'conga-exec-'));
  const svc = await createExecutorService({ runDir, log: silentLogger() });
  return {
    svc,
    async cleanup() {
      await svc.close();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
});

conformance('proxy', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'conga-exec-'));
  const log = silentLogger();
  const local = await createExecutorService({ runDir, log });
  const socket = join(runDir, 'executor.sock');
  const server = await serveUnix(socket, { executor: local }, log);
  const svc = executorProxy(socket);
  return {
    svc,
    async cleanup() {
      svc.close();
      await server.close();
      await local.close();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
});
