/**
 * A minimal Docker Engine API client over a unix socket, used the same way for conga and docker.
 * Owner: benchmarks (bench/).
 */
import { Agent, request } from 'node:http';

/** One request; JSON in, parsed JSON (or text) out. Throws on HTTP ≥ 400. */
export function api(socket: string, method: string, path: string, body?: unknown, agent?: Agent): Promise<any> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      { socketPath: socket, agent, method, path, headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {}, timeout: 300_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON */
          }
          if ((res.statusCode ?? 0) >= 400) reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 500)}`));
          else resolve(parsed);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** A keep-alive agent with enough sockets for N concurrent requests. */
export function apiAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 256 });
}

/** POST /containers/create + start for `sleep 3600` with NetworkMode none. */
export async function apiRun(socket: string, agent: Agent, image: string, name: string): Promise<void> {
  const created = await api(socket, 'POST', `/containers/create?name=${encodeURIComponent(name)}`, { Image: image, Cmd: ['sleep', '3600'], HostConfig: { NetworkMode: 'none' } }, agent);
  await api(socket, 'POST', `/containers/${created.Id}/start`, undefined, agent);
}

/** Running containers per GET /containers/json. */
export async function apiCountRunning(socket: string): Promise<number> {
  const list = (await api(socket, 'GET', '/containers/json')) as Array<{ State?: string }>;
  return list.filter((c) => c.State === undefined || c.State === 'running').length;
}
