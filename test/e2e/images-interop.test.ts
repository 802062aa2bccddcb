import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage, type BuiltImage } from '../harness/busybox-image';
import { startDaemon, runCommand, type Daemon } from '../harness/daemon';
import { DOCKER } from '../harness/docker-cli';

/**
 * Images written by other tools pull and run: a 2-platform index copied by `skopeo copy --all`
 * (platform selection, --platform, an unknown platform), a zstd image written by skopeo, a TLS
 * registry trusted through `<certs.d>/<host:port>/ca.crt`, and archives exchanged with a private
 * dockerd (skipped when dockerd is not installed).
 */

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
const OTHER_ARCH = HOST_ARCH === 'amd64' ? 'arm64' : 'amd64';
const CERTS_D = '/etc/conga/certs.d';

/** The busybox image with its config's architecture changed (new config, so a new image id). */
function withArch(img: BuiltImage, architecture: string): BuiltImage {
  const cfg = JSON.parse(img.config.toString('utf8')) as Record<string, unknown>;
  const config = Buffer.from(JSON.stringify({ ...cfg, architecture }));
  const manifestObj = JSON.parse(img.manifest.toString('utf8')) as { config: { size: number; digest: string } };
  manifestObj.config = { ...manifestObj.config, size: config.length, digest: sha256(config) };
  const manifest = Buffer.from(JSON.stringify(manifestObj));
  return { ...img, config, configDigest: sha256(config), manifest, manifestDigest: sha256(manifest) };
}

async function putManifest(host: string, repo: string, tag: string, body: Buffer, mediaType: string): Promise<void> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body, headers: { 'Content-Type': mediaType } });
  if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${tag}: HTTP ${res.status} ${await res.text()}`);
}

async function getManifest(host: string, repo: string, tag: string): Promise<{ mediaType?: string; layers?: Array<{ mediaType: string }> }> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  assert.equal(res.status, 200);
  return (await res.json()) as { mediaType?: string; layers?: Array<{ mediaType: string }> };
}

async function skopeo(args: string[]): Promise<void> {
  const r = await runCommand('skopeo', ['--insecure-policy', ...args], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `skopeo ${args.join(' ')}: ${r.stderr}`);
}

async function imageJson(d: Daemon, ref: string): Promise<{ Id: string; Architecture: string }> {
  const r = await d.api('GET', `/images/${encodeURIComponent(ref)}/json`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { Id: string; Architecture: string };
}

/** A docker-registry serving https with `dir/tls.crt` on `addr:port`; resolves once it answers. */
async function startTlsRegistry(dir: string, addr: string, port: number, ca: string): Promise<ChildProcess> {
  const cfg = join(dir, 'config.yml');
  writeFileSync(
    cfg,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      'http:',
      `  addr: ${addr}:${port}`,
      '  tls:',
      `    certificate: ${join(dir, 'server', 'tls.crt')}`,
      `    key: ${join(dir, 'server', 'tls.key')}`,
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: 'ignore' });
  const answers = () =>
    new Promise<boolean>((resolve) => {
      const req = httpsRequest({ host: addr, port, path: '/v2/', ca, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the TLS registry exited (${child.exitCode})`);
    if (await answers()) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('the TLS registry did not answer within 15 s');
}

describe('images interop', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let hostImg: BuiltImage;
  let otherImg: BuiltImage;

  before(async () => {
    reg = await startRegistry();
    const base = await buildBusyboxImage({ cmd: ['echo', 'interop ok'], labels: { 'conga.test': 'interop' } });
    hostImg = withArch(base, HOST_ARCH);
    otherImg = withArch(base, OTHER_ARCH);
    await pushImage(reg.host, 'src/bb', HOST_ARCH, hostImg);
    await pushImage(reg.host, 'src/bb', OTHER_ARCH, otherImg);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [hostImg, otherImg].map((img, i) => ({
          mediaType: img.manifestMediaType,
          digest: img.manifestDigest,
          size: img.manifest.length,
          platform: { os: 'linux', architecture: i === 0 ? HOST_ARCH : OTHER_ARCH },
        })),
      }),
    );
    await putManifest(reg.host, 'src/bb', 'multi', index, 'application/vnd.oci.image.index.v1+json');
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test('skopeo copy --all of a 2-platform index: host platform by default, --platform picks, s390x is refused', async () => {
    await skopeo(['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/src/bb:multi`, `docker://${reg.host}/copied/bb:multi`]);
    const ref = `${reg.host}/copied/bb:multi`;
    const def = await d.cli(['pull', ref]);
    assert.equal(def.code, 0, def.stderr);
    let j = await imageJson(d, ref);
    assert.equal(j.Architecture, HOST_ARCH);
    assert.equal(j.Id, hostImg.configDigest);
    const other = await d.cli(['pull', '--platform', `linux/${OTHER_ARCH}`, ref]);
    assert.equal(other.code, 0, other.stderr);
    j = await imageJson(d, ref);
    assert.equal(j.Architecture, OTHER_ARCH);
    assert.equal(j.Id, otherImg.configDigest);
    const none = await d.cli(['pull', '--platform', 'linux/s390x', ref]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no matching manifest for linux\/s390x/);
    // Back to the host's image, which runs.
    assert.equal((await d.cli(['pull', ref])).code, 0);
    assert.equal((await imageJson(d, ref)).Id, hostImg.configDigest);
    const run = await d.cli(['run', '--rm', ref]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /interop ok/);
  });

  test('a zstd image written by skopeo pulls and runs', async (t) => {
    // Through an OCI layout: copying straight to the same registry reuses the gzip blob there.
    const layout = mkdtempSync(join(tmpdir(), 'conga-zstd-'));
    t.after(() => rmSync(layout, { recursive: true, force: true }));
    await skopeo([
      'copy', '--src-tls-verify=false', '--dest-compress', '--dest-compress-format', 'zstd',
      `docker://${reg.host}/src/bb:${HOST_ARCH}`, `oci:${layout}:latest`,
    ]);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/zstd/bb:latest`]);
    const m = await getManifest(reg.host, 'zstd/bb', 'latest');
    assert.ok(m.layers?.length && m.layers.every((l) => l.mediaType.endsWith('+zstd')), `not a zstd image: ${JSON.stringify(m)}`);
    const ref = `${reg.host}/zstd/bb:latest`;
    const pull = await d.cli(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    const run = await d.cli(['run', '--rm', ref]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /interop ok/);
  });

  test('a TLS registry is trusted through certs.d/<host:port>/ca.crt, and refused with a hint without it', async (t) => {
    // 127.x names are plain http (like docker's default insecure loopback), so reach the
    // registry by the machine's hostname when that resolves to loopback.
    const name = hostname();
    let addr = '';
    try {
      addr = (await lookup(name, { family: 4 })).address;
    } catch {
      /* unresolvable */
    }
    if (!/^127\./.test(addr) || name === 'localhost') return t.skip(`the hostname ${name} does not resolve to a loopback address`);
    const dir = mkdtempSync(join(tmpdir(), 'conga-tls-reg-'));
    let reg2: ChildProcess | undefined;
    let certDir = '';
    // /etc/conga is the daemon's default config dir: removed after only when this test made it.
    const madeEtc = !existsSync('/etc/conga');
    t.after(() => {
      reg2?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      if (certDir) rmSync(certDir, { recursive: true, force: true });
      if (madeEtc) rmSync('/etc/conga', { recursive: true, force: true });
    });
    mkdirSync(join(dir, 'server'));
    mkdirSync(join(dir, 'ca'));
    const gen = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
      '-addext', `subjectAltName=DNS:${name},IP:${addr}`, '-keyout', join(dir, 'server', 'tls.key'), '-out', join(dir, 'server', 'tls.crt'),
    ], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const ca = readFileSync(join(dir, 'server', 'tls.crt'), 'utf8');
    writeFileSync(join(dir, 'ca', 'ca.crt'), ca);
    const port = await freePort();
    reg2 = await startTlsRegistry(dir, addr, port, ca);
    const domain = `${name}:${port}`;
    await skopeo(['copy', '--src-tls-verify=false', `--dest-cert-dir=${join(dir, 'ca')}`, `docker://${reg.host}/src/bb:${HOST_ARCH}`, `docker://${domain}/tls/bb:latest`]);
    const ref = `${domain}/tls/bb:latest`;

    const refused = await d.cli(['pull', ref]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /certificate/i);
    assert.ok(refused.stderr.includes(`${CERTS_D}/${domain}/ca.crt`), `no hint where to put the CA: ${refused.stderr}`);

    certDir = join(CERTS_D, domain);
    mkdirSync(certDir, { recursive: true });
    writeFileSync(join(certDir, 'ca.crt'), ca);
    const ok = await d.cli(['pull', ref]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await imageJson(d, ref)).Id, hostImg.configDigest);
  });

  describe('with a private dockerd', () => {
    const dockerd = ['/usr/bin/dockerd', '/usr/sbin/dockerd', '/usr/local/bin/dockerd'].find((p) => existsSync(p));
    const skip = !dockerd ? 'dockerd is not installed (Debian package docker.io)' : !existsSync(DOCKER) ? `no docker CLI at ${DOCKER}` : false;
    let base = '';
    let proc: ChildProcess | undefined;
    let sock = '';
    const docker = (args: string[]) => runCommand(DOCKER, ['-H', `unix://${sock}`, ...args], { timeoutMs: 120_000, env: { ...process.env, DOCKER_CONFIG: join(base, 'cfg') } });

    before(async () => {
      if (skip) return;
      base = mkdtempSync('/tmp/cgdk-');
      sock = join(base, 'docker.sock');
      proc = spawn(
        dockerd!,
        ['--data-root', join(base, 'data'), '--exec-root', join(base, 'exec'), '--pidfile', join(base, 'docker.pid'), '-H', `unix://${sock}`,
          '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--containerd-namespace', `cgdk${process.pid}`],
        { stdio: ['ignore', 'ignore', 'ignore'] },
      );
      for (let i = 0; i < 600; i++) {
        if (existsSync(sock) && (await docker(['version'])).code === 0) return;
        if (proc.exitCode !== null) throw new Error(`dockerd exited (${proc.exitCode})`);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the private dockerd did not come up within 60 s');
    });
    after(async () => {
      if (!proc) return;
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc!.once('exit', r));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc!.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      spawnSync('sh', ['-c', `grep " ${base}/" /proc/self/mounts | cut -d" " -f2 | sort -r | xargs -r -n1 umount -l`]);
      rmSync(base, { recursive: true, force: true });
    });

    test('conga save | docker load, then docker save → conga load → conga run', { skip }, async () => {
      const ref = `${reg.host}/src/bb:${HOST_ARCH}`;
      assert.equal((await d.cli(['pull', ref])).code, 0);
      const ours = join(base, 'conga.tar');
      const save = await d.cli(['save', '-o', ours, ref]);
      assert.equal(save.code, 0, save.stderr);
      const load = await docker(['load', '-i', ours]);
      assert.equal(load.code, 0, load.stderr);
      assert.match(load.stdout, new RegExp(`Loaded image: ${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      const run = await docker(['run', '--rm', '--network', 'none', ref]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /interop ok/);

      assert.equal((await docker(['tag', ref, 'from-docker/bb:v1'])).code, 0);
      const theirs = join(base, 'docker.tar');
      const dsave = await docker(['save', '-o', theirs, 'from-docker/bb:v1']);
      assert.equal(dsave.code, 0, dsave.stderr);
      const cload = await d.cli(['load', '-i', theirs]);
      assert.equal(cload.code, 0, cload.stderr);
      assert.match(cload.stdout, /Loaded image: from-docker\/bb:v1/);
      const crun = await d.cli(['run', '--rm', 'from-docker/bb:v1']);
      assert.equal(crun.code, 0, crun.stderr);
      assert.match(crun.stdout, /interop ok/);
    });
  });
});
