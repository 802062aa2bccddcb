import { join } from 'node:path';
import { silentLogger } from '@conga/common';
import { networkProxy, serveUnix } from '@conga/rpc';
import { conformance } from './testsuite';
import { makeTestEnv } from './test-env';

conformance('local', async () => {
  const env = await makeTestEnv();
  const svc = await env.start();
  return { svc, cleanup: () => env.cleanup() };
});

conformance('proxy', async () => {
  const env = await makeTestEnv();
  const local = await env.start();
  const sock = join(env.root, 'network.sock');
  const server = await serveUnix(sock, { network: local }, silentLogger());
  const proxy = networkProxy(sock);
  return {
    svc: proxy,
    async cleanup() {
      proxy.close();
      await server.close();
      await env.cleanup();
    },
  };
});
