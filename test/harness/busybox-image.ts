/**
 * Test harness: build small but real OCI/Docker images from Debian's busybox-static and push them
 * to a registry (see ./registry.ts) with the distribution API, no docker needed.
 *
 * Owned by the image-service engineer; used by every end-to-end test. Images are deterministic:
 * the same options give the same digests. Exported signatures are stable; fields may be added.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { pack as tarPack, type Header } from 'tar-stream';

export const MEDIA_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_CONFIG_V1 = 'application/vnd.docker.container.image.v1+json';
export const MEDIA_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** One layer of a {@link BuiltImage}. */
export interface BuiltLayer {
  /** sha256 of the gzipped blob (what the manifest and registry use). */
  digest: string;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: string;
  mediaType: string;
  /** The gzipped tar. */
  blob: Buffer;
  /** Bytes of the gzipped tar. */
  size: number;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
}

/** An image built in memory by {@link buildBusyboxImage}. */
export interface BuiltImage {
  /** Layers bottom first. */
  layers: BuiltLayer[];
  /** The config JSON bytes; its sha256 (configDigest) is the image id. */
  config: Buffer;
  configDigest: string;
  /** The Docker v2 schema 2 manifest bytes. */
  manifest: Buffer;
  manifestDigest: string;
  manifestMediaType: string;
  /** Layer diff IDs bottom first (== config rootfs.diff_ids). */
  diffIds: string[];
  /** Chain IDs bottom first (the storage service's layer keys). */
  chainIds: string[];
}

/** Options of {@link buildBusyboxImage}. */
export interface BusyboxImageOptions {
  /** config.Cmd; default ["sh"]. */
  cmd?: string[];
  /** config.Env; default ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]. */
  env?: string[];
  /** config.Entrypoint; default none. */
  entrypoint?: string[];
  /** config.WorkingDir; default "". */
  workingDir?: string;
  /** config.User; default "". */
  user?: string;
  /** config.Labels. */
  labels?: Record<string, string>;
  /** config.ExposedPorts keys ("80/tcp"), like a Dockerfile's EXPOSE. */
  exposedPorts?: string[];
  /**
   * Extra layers on top of the busybox layer: path (leading "/" optional) → file contents
   * (mode 0644; a path ending in "/" makes a directory; parent dirs are added as needed).
   * Name a file `.wh.<name>` to make a whiteout.
   */
  extraLayers?: Array<Record<string, string | Buffer>>;
  /** Layers of raw tar entries (symlinks, hardlinks, modes) on top of `extraLayers`. */
  entryLayers?: TarEntry[][];
  /** More config fields (e.g. Healthcheck, StopSignal), set after the ones above. */
  config?: Record<string, unknown>;
}

/** A fixed timestamp so images are reproducible. */
const EPOCH = new Date('2024-01-01T00:00:00Z');
const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A tar entry for {@link buildLayer}. */
export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode?: number;
  data?: Buffer;
  linkname?: string;
  uid?: number;
  gid?: number;
}

/** Make an uncompressed tar from entries, in order (tar-stream). */
export async function buildTar(entries: TarEntry[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  for (const e of entries) {
    const h: Partial<Header> & { name: string } = {
      name: e.name,
      type: e.type,
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644),
      mtime: EPOCH,
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: 'root',
      gname: 'root',
    };
    if (e.linkname !== undefined) h.linkname = e.linkname;
    await new Promise<void>((resolve, reject) => {
      if (e.type === 'file') p.entry({ ...h, size: e.data?.length ?? 0 }, e.data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      else p.entry(h, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** gzip a tar into a {@link BuiltLayer} with its digests. */
export async function makeLayer(tar: Buffer): Promise<BuiltLayer> {
  const blob = await promisify(gzip)(tar);
  return { digest: sha256(blob), diffId: sha256(tar), mediaType: MEDIA_LAYER_GZIP, blob, size: blob.length, tarSize: tar.length };
}

let busyboxLayerCache: Promise<BuiltLayer> | undefined;

/** The busybox base layer (cached per process: it is the same every time). */
export function busyboxLayer(): Promise<BuiltLayer> {
  busyboxLayerCache ??= (async () => {
    const bin = readFileSync('/bin/busybox');
    const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s && s !== 'busybox' && !s.includes('/'))
      .sort();
    const entries: TarEntry[] = [
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', type: 'file', mode: 0o755, data: bin },
      ...applets.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
      { name: 'dev/', type: 'directory' },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', type: 'file', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n') },
      { name: 'etc/group', type: 'file', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
      { name: 'proc/', type: 'directory' },
      { name: 'root/', type: 'directory', mode: 0o700 },
      { name: 'sys/', type: 'directory' },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ];
    return makeLayer(await buildTar(entries));
  })();
  return busyboxLayerCache;
}

function filesToEntries(files: Record<string, string | Buffer>): TarEntry[] {
  const dirs = new Set<string>();
  const out: TarEntry[] = [];
  const addDir = (d: string) => {
    if (!d || dirs.has(d)) return;
    const parent = d.includes('/') ? d.slice(0, d.lastIndexOf('/')) : '';
    addDir(parent);
    dirs.add(d);
    out.push({ name: `${d}/`, type: 'directory' });
  };
  for (const [rawPath, content] of Object.entries(files)) {
    const path = rawPath.replace(/^\/+/, '');
    if (!path || path.split('/').includes('..')) throw new Error(`bad path in extraLayers: "${rawPath}"`);
    if (path.endsWith('/')) {
      addDir(path.replace(/\/+$/, ''));
      continue;
    }
    addDir(path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
    out.push({ name: path, type: 'file', data: Buffer.isBuffer(content) ? content : Buffer.from(content) });
  }
  return out;
}

/** Chain IDs from diff IDs: chain(L0)=diff(L0); chain(Ln)=sha256(chain(Ln-1) + " " + diff(Ln)). */
export function chainIdsOf(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

/**
 * Build a busybox image in memory: layer 1 is /bin/busybox with a /bin symlink per applet,
 * /etc/passwd (root, nobody), /etc/group, /tmp (1777), /proc, /sys, /dev, /root; then one layer
 * per `extraLayers` entry. Config: linux/amd64, Cmd ["sh"] unless given, Env PATH.
 */
export async function buildBusyboxImage(opts: BusyboxImageOptions = {}): Promise<BuiltImage> {
  const layers = [await busyboxLayer()];
  for (const files of opts.extraLayers ?? []) layers.push(await makeLayer(await buildTar(filesToEntries(files))));
  for (const entries of opts.entryLayers ?? []) layers.push(await makeLayer(await buildTar(entries)));
  const diffIds = layers.map((l) => l.diffId);
  const containerConfig: Record<string, unknown> = {
    Env: opts.env ?? DEFAULT_ENV,
    Cmd: opts.cmd ?? ['sh'],
    WorkingDir: opts.workingDir ?? '',
  };
  if (opts.entrypoint) containerConfig.Entrypoint = opts.entrypoint;
  if (opts.user) containerConfig.User = opts.user;
  if (opts.labels) containerConfig.Labels = opts.labels;
  if (opts.exposedPorts) containerConfig.ExposedPorts = Object.fromEntries(opts.exposedPorts.map((p) => [p, {}]));
  Object.assign(containerConfig, opts.config ?? {});
  const configObj = {
    architecture: 'amd64',
    os: 'linux',
    created: EPOCH.toISOString(),
    config: containerConfig,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map((_, i) => ({
      created: EPOCH.toISOString(),
      created_by: i === 0 ? 'conga test harness: busybox-static' : `conga test harness: extra layer ${i}`,
    })),
  };
  const config = Buffer.from(JSON.stringify(configObj));
  const configDigest = sha256(config);
  const manifestObj = {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST_V2,
    config: { mediaType: MEDIA_CONFIG_V1, size: config.length, digest: configDigest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  };
  const manifest = Buffer.from(JSON.stringify(manifestObj));
  return {
    layers,
    config,
    configDigest,
    manifest,
    manifestDigest: sha256(manifest),
    manifestMediaType: MEDIA_MANIFEST_V2,
    diffIds,
    chainIds: chainIdsOf(diffIds),
  };
}

/** Basic-auth credentials for {@link pushImage} against a registry started with htpasswd. */
export interface PushAuth {
  username: string;
  password: string;
}

/** What {@link pushImage} pushed. */
export interface PushedImage {
  /** "host/repo:tag". */
  reference: string;
  /** "host/repo@sha256:..." (pull by digest). */
  digestReference: string;
  manifestDigest: string;
  /** The image id. */
  configDigest: string;
  layerDigests: string[];
}

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function http(host: string, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}, auth?: PushAuth): Promise<HttpResult> {
  const [hostname, port] = [host.slice(0, host.lastIndexOf(':')), Number(host.slice(host.lastIndexOf(':') + 1))];
  const h: Record<string, string | number> = { ...headers };
  if (body) h['Content-Length'] = body.length;
  if (auth) h.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers: h, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} http://${host}${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function pushBlob(host: string, repo: string, digest: string, data: Buffer, auth?: PushAuth): Promise<void> {
  const head = await http(host, 'HEAD', `/v2/${repo}/blobs/${digest}`, undefined, {}, auth);
  if (head.status === 200) return;
  const start = await http(host, 'POST', `/v2/${repo}/blobs/uploads/`, Buffer.alloc(0), {}, auth);
  if (start.status !== 202) throw new Error(`POST /v2/${repo}/blobs/uploads/ on ${host}: HTTP ${start.status} ${start.body.toString()}`);
  const loc = String(start.headers.location ?? '');
  if (!loc) throw new Error(`POST /v2/${repo}/blobs/uploads/ on ${host}: no Location header`);
  const url = new URL(loc, `http://${host}`);
  url.searchParams.set('digest', digest);
  const put = await http(host, 'PUT', url.pathname + url.search, data, { 'Content-Type': 'application/octet-stream' }, auth);
  if (put.status !== 201) throw new Error(`PUT blob ${digest} to ${host}/${repo}: HTTP ${put.status} ${put.body.toString()}`);
}

/**
 * Push an image built by {@link buildBusyboxImage} to `host` ("127.0.0.1:PORT") as `repo:tag`:
 * each blob by POST /v2/<repo>/blobs/uploads/ then PUT <location>&digest=… (skipped when the
 * registry already has it), then PUT the manifest. Returns the digests to pull by.
 */
export async function pushImage(host: string, repo: string, tag: string, img: BuiltImage, auth?: PushAuth): Promise<PushedImage> {
  for (const l of img.layers) await pushBlob(host, repo, l.digest, l.blob, auth);
  await pushBlob(host, repo, img.configDigest, img.config, auth);
  const put = await http(host, 'PUT', `/v2/${repo}/manifests/${tag}`, img.manifest, { 'Content-Type': img.manifestMediaType }, auth);
  if (put.status !== 201) throw new Error(`PUT manifest ${repo}:${tag} to ${host}: HTTP ${put.status} ${put.body.toString()}`);
  const got = String(put.headers['docker-content-digest'] ?? img.manifestDigest);
  if (got !== img.manifestDigest) throw new Error(`registry stored manifest ${got}, expected ${img.manifestDigest}`);
  return {
    reference: `${host}/${repo}:${tag}`,
    digestReference: `${host}/${repo}@${img.manifestDigest}`,
    manifestDigest: img.manifestDigest,
    configDigest: img.configDigest,
    layerDigests: img.layers.map((l) => l.digest),
  };
}
