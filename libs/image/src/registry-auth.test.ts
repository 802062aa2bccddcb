import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { E, newContext } from '@conga/common';
import { startRegistry, htpasswdEntry } from '../../../test/harness/registry';
import { startRegistryProxy } from '../../../test/harness/registry-proxy';
import { buildBusyboxImage, pushImage } from '../../../test/harness/busybox-image';
import { imageEnv } from './test-env';
import { registryKey } from './auth-store';

test('registryKey: hosts, URLs and Docker Hub aliases', () => {
  assert.equal(registryKey(''), 'docker.io');
  assert.equal(registryKey('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(registryKey('registry-1.docker.io'), 'docker.io');
  assert.equal(registryKey('http://127.0.0.1:5000/'), '127.0.0.1:5000');
  assert.equal(registryKey('Quay.IO:443'), 'quay.io');
  assert.throws(() => registryKey('a b'), (e) => E.InvalidArgument.is(e));
});

test('basic auth: login checks the password, stores 0600, pull and push use it; logout forgets', async (t) => {
  const reg = await startRegistry({ htpasswd: htpasswdEntry('alice', 's3cret') });
  t.after(() => reg.stop());
  const env = await imageEnv();
  t.after(() => env.cleanup());
  const img = await buildBusyboxImage({ extraLayers: [{ 'etc/auth': 'basic' }] });
  await pushImage(reg.host, 'private/bb', 'v1', img, { username: 'alice', password: 's3cret' });
  const ctx = newContext();
  // Anonymous pull is refused with a clear message.
  await assert.rejects(env.svc.pullImage({ reference: `${reg.host}/private/bb:v1` }, ctx), (e) => E.RegistryUnauthorized.is(e) && /conga login/.test((e as Error).message));
  // Wrong password: refused, nothing stored.
  await assert.rejects(env.svc.login({ serverAddress: reg.host, username: 'alice', password: 'nope' }, ctx), (e) => E.RegistryUnauthorized.is(e) && /incorrect username or password/.test((e as Error).message));
  const authFile = join(env.root, 'image', 'auths.json');
  assert.throws(() => statSync(authFile));
  const ok = await env.svc.login({ serverAddress: `http://${reg.host}/`, username: 'alice', password: 's3cret' }, ctx);
  assert.equal(ok.status, 'Login Succeeded');
  assert.equal(statSync(authFile).mode & 0o777, 0o600);
  assert.ok(JSON.parse(readFileSync(authFile, 'utf8')).auths[reg.host]);
  const pulled = await env.svc.pullImage({ reference: `${reg.host}/private/bb:v1` }, ctx);
  assert.equal(pulled.id, img.configDigest);
  // Push under another name with the stored credentials.
  await env.svc.tagImage({ source: pulled.id, target: `${reg.host}/private/copy:v2` }, ctx);
  const pushed = await env.svc.pushImage({ reference: `${reg.host}/private/copy:v2` }, ctx);
  assert.equal(pushed.digest, img.manifestDigest);
  assert.equal((await env.svc.logout({ serverAddress: reg.host }, ctx)).removed, true);
  assert.equal((await env.svc.logout({ serverAddress: reg.host }, ctx)).removed, false);
  assert.throws(() => statSync(authFile));
});

test('bearer token flow: anonymous pull gets a pull token; push needs credentials; wrong password is refused', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const proxy = await startRegistryProxy(reg.host, { bearer: { username: 'bob', password: 'pw', allowAnonymousPull: true } });
  t.after(() => proxy.close());
  const img = await buildBusyboxImage({ extraLayers: [{ 'etc/bearer': 'x' }] });
  await pushImage(reg.host, 'tok/bb', 'v1', img);
  const env = await imageEnv();
  t.after(() => env.cleanup());
  const ctx = newContext();
  const pulled = await env.svc.pullImage({ reference: `${proxy.host}/tok/bb:v1` }, ctx);
  assert.equal(pulled.id, img.configDigest);
  assert.ok(proxy.tokenRequests.length >= 1);
  assert.ok(proxy.tokenRequests.every((r) => r.authorization === undefined), 'anonymous token requests carry no credentials');
  assert.deepEqual(proxy.tokenRequests[0].scopes, ['repository:tok/bb:pull']);
  // Push without credentials: denied.
  await env.svc.tagImage({ source: pulled.id, target: `${proxy.host}/tok/pushed:v1` }, ctx);
  await assert.rejects(env.svc.pushImage({ reference: `${proxy.host}/tok/pushed:v1` }, ctx), (e) => E.PushDenied.is(e) || E.RegistryUnauthorized.is(e));
  await assert.rejects(env.svc.login({ serverAddress: proxy.host, username: 'bob', password: 'bad' }, ctx), (e) => E.RegistryUnauthorized.is(e));
  // Credentials passed per call (X-Registry-Auth) work without being stored.
  const res = await env.svc.pushImage({ reference: `${proxy.host}/tok/pushed:v1`, auth: { username: 'bob', password: 'pw', serverAddress: proxy.host } }, ctx);
  assert.equal(res.digest, img.manifestDigest);
  assert.ok(proxy.tokenRequests.some((r) => r.scopes.includes('repository:tok/pushed:pull,push') && r.authorization?.startsWith('Basic ')));
  // Credentials for another registry in X-Registry-Auth are ignored (scoped to their host).
  await env.svc.tagImage({ source: pulled.id, target: `${proxy.host}/tok/other:v1` }, ctx);
  await assert.rejects(env.svc.pushImage({ reference: `${proxy.host}/tok/other:v1`, auth: { username: 'bob', password: 'pw', serverAddress: 'elsewhere.example:5000' } }, ctx));
});

test('credentials are never sent to a redirect target on another host', async (t) => {
  const reg = await startRegistry({ htpasswd: htpasswdEntry('carol', 'pw') });
  t.after(() => reg.stop());
  const img = await buildBusyboxImage({ extraLayers: [{ 'etc/redirect': 'x' }] });
  await pushImage(reg.host, 'r/bb', 'v1', img, { username: 'carol', password: 'pw' });
  // "Another host": a plain proxy on 127.0.0.2 that serves the blobs (it adds the credentials itself).
  const other = await startRegistryProxy(reg.host, { address: '127.0.0.2' });
  t.after(() => other.close());
  const front = await startRegistryProxy(reg.host, {
    rule: (req) => (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '') ? { redirect: `http://${other.host}${req.url}` } : undefined),
  });
  t.after(() => front.close());
  const env = await imageEnv({ 'insecure-registries': ['127.0.0.2'] });
  t.after(() => env.cleanup());
  const ctx = newContext();
  await env.svc.login({ serverAddress: front.host, username: 'carol', password: 'pw' }, ctx);
  // The redirect target answers 401 without credentials: the pull fails rather than leak them.
  await assert.rejects(env.svc.pullImage({ reference: `${front.host}/r/bb:v1` }, ctx));
  assert.ok(other.requests.length > 0, 'the redirect was followed');
  assert.ok(other.requests.every((r) => r.authorization === undefined), `no credentials to ${other.host}`);
  assert.ok(front.requests.some((r) => r.authorization?.startsWith('Basic ')), 'the registry itself got them');
  assert.deepEqual(await env.blobs(), [], 'a failed pull leaves no blobs');
});
