import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { parseConfig, silentLogger } from '@conga/common';
import { Engine, createApiServer } from '@conga/engine';
import { parseReference } from '../../libs/image/src/reference';
import { startRegistry, freePort, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { cleanupState } from '../harness/daemon';
import { fuzzParams, trapUnhandled } from './fuzz-options';

/**
 * Fuzzing the Engine API (libs/engine/src/api) in process: fastify's inject on createApiServer
 * over a real Engine (all four services in process, temp dirs, a private bridge). Every answer
 * must be a 2xx/3xx or a 4xx with {"message": "..."}; never a 5xx for bad input, never an
 * unhandled rejection. Registry traffic only goes to 127.0.0.1.
 */

const ID_CHARS = 'zyxwvq-_.%~/\\ :?#[]@!$&\'()*+,;=ABC01\u00e9\u0000';
/** Ids and names that cannot be a prefix of a real (hex) container id. */
const badId = fc.oneof(
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 30 }),
  fc.constantFrom('..', '../..', '%2e%2e', 'zz', 'z'.repeat(300), '/', '%', '%zz', '%00', 'sha256:', 'sha256:zz'),
).map((s) => 'z' + s);
const qv = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('1', '0', 'true', 'false', '-1', '1e309', 'NaN', '', '[]', '{}', 'null', '9007199254740993', 'SIGKILL', 'SIGFOO', '99', 'all', 'next-exit', 'removed', 'not-running'));
const filters = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((j) => JSON.stringify(j)),
  fc.dictionary(fc.constantFrom('status', 'name', 'id', 'label', 'ancestor', 'exited', 'dangling', 'before', 'bogus'), fc.oneof(fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.boolean()), fc.jsonValue({ maxDepth: 1 }))).map((o) => JSON.stringify(o)),
  fc.constantFrom('{"name":["("]}', '{"name":["[a-"]}', 'null', '{"status":null}', '{', '{"label":[""]}', '"x"'),
);
const query = (keys: string[]) =>
  fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })), fc.oneof(qv, filters), { maxKeys: 5 }).map((q) =>
    Object.entries(q).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'),
  );

describe('fuzz engine API', () => {
  let reg: TestRegistry;
  let app: FastifyInstance;
  let engine: Engine;
  let base: string;
  let bridge: string;
  let image: string;
  let closedPort: number;
  const trap = trapUnhandled();
  const seen = new Map<number, number>();

  /** One request; asserts the answer's shape and returns the status. */
  async function call(method: string, url: string, payload?: string | Buffer, contentType = 'application/json'): Promise<number> {
    const res = await app.inject({ method: method as 'GET', url, payload, headers: payload === undefined ? {} : { 'content-type': contentType } });
    seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
    const what = `${method} ${url} ${payload === undefined ? '' : String(payload).slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
    assert.ok(res.statusCode < 500 || res.statusCode === 503, `server error: ${what}`);
    if (res.statusCode >= 400) {
      let body: { message?: unknown };
      try {
        body = JSON.parse(res.body) as { message?: unknown };
      } catch {
        assert.fail(`error body is not JSON: ${what}`);
      }
      assert.ok(typeof body.message === 'string' && body.message.length > 0, `error without a message: ${what}`);
    }
    assert.deepEqual(trap.errors, [], `unhandled rejection after ${what}`);
    return res.statusCode;
  }

  before(async () => {
    reg = await startRegistry();
    image = (await pushImage(reg.host, 'fuzz/busybox', 'latest', await buildBusyboxImage())).reference;
    closedPort = await freePort();
    base = mkdtempSync('/tmp/cgf-');
    bridge = `cgf${randomBytes(3).toString('hex')}`;
    const config = parseConfig({ bridge, 'fixed-cidr': `10.${200 + randomInt(50)}.${randomInt(256)}.0/24` });
    engine = await Engine.open({ mode: 'all-in-one', paths: { root: join(base, 'r'), run: join(base, 's') }, config, log: silentLogger() });
    app = await createApiServer(engine, silentLogger());
    await app.ready();
    const pull = await app.inject({ method: 'POST', url: `/images/create?fromImage=${encodeURIComponent(image)}` });
    assert.equal(pull.statusCode, 200, pull.body);
  });

  after(async () => {
    trap.dispose();
    try {
      for (const c of engine?.containers.list(true) ?? []) await app.inject({ method: 'DELETE', url: `/containers/${c.Id}?force=1` });
      await app?.close();
      await engine?.close();
    } finally {
      if (base) {
        cleanupState(join(base, 'r'), join(base, 's'));
        rmSync(base, { recursive: true, force: true });
      }
      if (bridge) spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
      await reg?.stop();
    }
  });

  test('query strings and ids on every route give 2xx or 4xx with a message', async (t) => {
    const routes: Array<[string, (id: string) => string, string[]]> = [
      ['GET', () => '/containers/json', ['all', 'limit', 'filters', 'size']],
      ['GET', () => '/images/json', ['all', 'filters', 'digests']],
      ['GET', (id) => `/containers/${id}/json`, ['size']],
      ['GET', (id) => `/images/${id}/json`, []],
      ['POST', (id) => `/containers/${id}/start`, ['detachKeys']],
      ['POST', (id) => `/containers/${id}/stop`, ['t', 'signal']],
      ['POST', (id) => `/containers/${id}/kill`, ['signal']],
      ['POST', (id) => `/containers/${id}/wait`, ['condition']],
      ['DELETE', (id) => `/containers/${id}`, ['force', 'v', 'link']],
      ['DELETE', (id) => `/images/${id}`, ['force', 'noprune']],
      ['GET', (id) => `/containers/${id}/logs`, ['stdout', 'stderr', 'tail', 'since', 'until', 'follow', 'timestamps']],
      ['POST', (id) => `/containers/${id}/attach`, ['stream', 'stdout', 'stderr', 'logs']],
      ['GET', () => '/networks', ['filters']],
      ['GET', (id) => `/networks/${id}`, []],
      ['GET', () => '/volumes', ['filters']],
      ['GET', () => '/_ping', []],
      ['GET', () => '/version', []],
      ['GET', () => '/info', []],
    ];
    const req = fc.tuple(fc.nat({ max: routes.length - 1 }), badId, fc.boolean(), fc.constantFrom('', '/v1.41', '/v1.24', '/v9.99', '/v1.x'));
    await fc.assert(
      fc.asyncProperty(req, query(['all', 'limit', 'filters', 'force', 't', 'signal', 'condition', 'tail', 'stdout', 'stream']), async ([i, rawId, encode, version], q) => {
        const [method, path, keys] = routes[i];
        void keys;
        const id = encode ? encodeURIComponent(rawId) : rawId.replace(/[?#\s]/g, '_');
        await call(method, `${version}${path(id)}${q ? `?${q}` : ''}`);
      }),
      fuzzParams(400),
    );
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  test('POST /images/create: bad references are 4xx; unreachable registries 4xx/503; never a crash', async () => {
    const ref = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: fc.constantFrom(...'ab:/@.-_09AZ'), maxLength: 40 }));
    await fc.assert(
      fc.asyncProperty(ref, fc.option(qv, { nil: undefined }), async (fromImage, tag) => {
        let candidate = tag ? `${fromImage}:${tag}` : fromImage;
        try {
          // Anything that parses would be pulled: aim it at a closed port on 127.0.0.1 instead.
          const r = parseReference(candidate);
          candidate = `127.0.0.1:${closedPort}/${r.path}${r.tag ? `:${r.tag}` : ''}`;
          fromImage = candidate;
          tag = undefined;
        } catch {
          /* bad reference: sent as is */
        }
        const q = `fromImage=${encodeURIComponent(fromImage)}${tag !== undefined ? `&tag=${encodeURIComponent(tag)}` : ''}`;
        await call('POST', `/images/create?${q}`);
      }),
      fuzzParams(60),
    );
  });

  test('POST /containers/create: arbitrary bodies give 201 or 4xx with a message', async (t) => {
    const strs = fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 });
    const body = fc.oneof(
      fc.record(
        {
          Image: fc.oneof(fc.constant(image), fc.constant(image), fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 1 })),
          Cmd: fc.oneof(strs, fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })),
          Entrypoint: fc.oneof(strs, fc.string({ maxLength: 10 }), fc.constant(null), fc.jsonValue({ maxDepth: 1 })),
          Env: fc.oneof(fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('A=1', '=x', 'PATH=', 'B')), { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
          WorkingDir: fc.oneof(fc.constantFrom('/', '/tmp', 'rel', '../..', '/../../etc', ''), fc.jsonValue({ maxDepth: 0 })),
          User: fc.oneof(fc.constantFrom('root', '0', '1000:1000', 'nobody', 'x:y', '-1', '99999999999', ''), fc.jsonValue({ maxDepth: 0 })),
          Labels: fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })), fc.jsonValue({ maxDepth: 1 })),
          Tty: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 0 })),
          OpenStdin: fc.jsonValue({ maxDepth: 0 }),
          StopSignal: fc.oneof(fc.constantFrom('SIGTERM', 'KILL', '9', 'SIGFOO', '0', '-1'), fc.jsonValue({ maxDepth: 0 })),
          StopTimeout: fc.jsonValue({ maxDepth: 0 }),
          HostConfig: fc.oneof(
            fc.record(
              {
                NetworkMode: fc.oneof(fc.constantFrom('none', 'host', 'default', 'bridge', 'container:zz', 'nope', ''), fc.jsonValue({ maxDepth: 0 })),
                AutoRemove: fc.jsonValue({ maxDepth: 0 }),
                Binds: fc.oneof(fc.array(fc.constantFrom('/etc:/x', '/:/host:ro', 'x', '::', '/tmp:/tmp:zz'), { maxLength: 2 }), fc.jsonValue({ maxDepth: 1 })),
                Memory: fc.oneof(fc.integer(), fc.jsonValue({ maxDepth: 0 })),
                Privileged: fc.jsonValue({ maxDepth: 0 }),
                RestartPolicy: fc.jsonValue({ maxDepth: 2 }),
                PortBindings: fc.jsonValue({ maxDepth: 2 }),
                Sysctls: fc.oneof(fc.constant({ 'kernel.shm_rmid_forced': '1+kernel.core_pattern=|/x' }), fc.jsonValue({ maxDepth: 1 })),
              },
              { requiredKeys: [] },
            ),
            fc.jsonValue({ maxDepth: 1 }),
          ),
        },
        { requiredKeys: [] },
      ).map((o) => JSON.stringify(o)),
      fc.jsonValue({ maxDepth: 2 }).map((j) => JSON.stringify(j)),
      fc.string({ maxLength: 40 }),
      fc.constantFrom('{', '{"Image":', '[]', 'null', '""', '{"__proto__":{"Image":"x"}}', '{"Image":"' + 'a'.repeat(5000) + '"}'),
    );
    const name = fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('a', 'ok-name', '/slash', '..', 'x'.repeat(300), 'a b', '-x')), { nil: undefined });
    let created = 0;
    await fc.assert(
      fc.asyncProperty(body, name, fc.constantFrom('application/json', 'text/plain', 'application/x-tar', 'application/json; charset=utf-8'), async (b, n, ct) => {
        const status = await call('POST', `/containers/create${n !== undefined ? `?name=${encodeURIComponent(n)}` : ''}`, b, ct);
        if (status === 201) created++;
      }),
      fuzzParams(250),
    );
    // Everything created can be inspected and removed again.
    for (const c of engine.containers.list(true)) {
      assert.equal(await call('GET', `/containers/${c.Id}/json`), 200);
      assert.equal(await call('DELETE', `/containers/${c.Id}?force=1`), 204);
    }
    t.diagnostic(`${created} containers created and removed`);
  });
});
