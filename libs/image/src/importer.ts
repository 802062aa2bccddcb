import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { E, type CallContext } from '@conga/common';
import { decompressor, sniffCompression } from '@conga/storage/src/decompress';
import { commitImage, type CommitDeps } from './layer-commit';
import { hostPlatform } from './manifest';
import { normalizedString, parseReference } from './reference';

/** Image config fields a --change may set (docker's subset for import/commit). */
export interface ConfigChanges {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
  User?: string;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  StopSignal?: string;
}

function jsonOrShell(rest: string, change: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    try {
      const a = JSON.parse(t) as unknown;
      if (Array.isArray(a) && a.every((x) => typeof x === 'string')) return a;
    } catch {
      /* fall through */
    }
    throw E.ImportChangeInvalid(change, 'the JSON form must be an array of strings, e.g. ["sh", "-c", "echo hi"]');
  }
  return ['/bin/sh', '-c', t];
}

/** Split "k=v k2="v 2"" into pairs (docker's ENV/LABEL key=value form). */
function keyValues(rest: string, change: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const t = rest.trim();
  if (!t.includes('=')) {
    const sp = t.search(/\s/);
    if (sp === -1) throw E.ImportChangeInvalid(change, 'expected KEY=VALUE');
    return [[t.slice(0, sp), t.slice(sp).trim()]];
  }
  const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|\S*)/g;
  for (let m = re.exec(t); m; m = re.exec(t)) out.push([m[1], m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2]]);
  if (out.length === 0) throw E.ImportChangeInvalid(change, 'expected KEY=VALUE');
  return out;
}

/** Apply Dockerfile-style changes (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL). */
export function applyChanges(base: ConfigChanges, changes: readonly string[]): ConfigChanges {
  const c: ConfigChanges = structuredClone(base);
  for (const change of changes) {
    const m = /^\s*([A-Za-z]+)\s+([\s\S]+)$/.exec(change);
    if (!m) throw E.ImportChangeInvalid(change, 'expected INSTRUCTION ARGUMENTS, e.g. CMD ["sh"]');
    const [, instr, rest] = m;
    switch (instr.toUpperCase()) {
      case 'CMD':
        c.Cmd = jsonOrShell(rest, change);
        break;
      case 'ENTRYPOINT':
        c.Entrypoint = jsonOrShell(rest, change);
        break;
      case 'ENV':
        for (const [k, v] of keyValues(rest, change)) c.Env = [...(c.Env ?? []).filter((e) => !e.startsWith(`${k}=`)), `${k}=${v}`];
        break;
      case 'LABEL':
        for (const [k, v] of keyValues(rest, change)) c.Labels = { ...c.Labels, [k]: v };
        break;
      case 'EXPOSE':
        for (const p of rest.trim().split(/\s+/)) {
          if (!/^\d{1,5}(\/(tcp|udp|sctp))?$/.test(p)) throw E.ImportChangeInvalid(change, `"${p}" is not a port (PORT[/tcp|udp|sctp])`);
          c.ExposedPorts = { ...c.ExposedPorts, [p.includes('/') ? p : `${p}/tcp`]: {} };
        }
        break;
      case 'USER':
        c.User = rest.trim();
        break;
      case 'WORKDIR':
        c.WorkingDir = rest.trim();
        break;
      case 'STOPSIGNAL':
        c.StopSignal = rest.trim();
        break;
      case 'VOLUME': {
        const t = rest.trim();
        const list = t.startsWith('[') ? jsonOrShell(t, change) : t.split(/\s+/);
        for (const v of list) c.Volumes = { ...c.Volumes, [v]: {} };
        break;
      }
      default:
        throw E.ImportChangeInvalid(change, `${instr} is not supported (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR or STOPSIGNAL)`);
    }
  }
  return c;
}

/**
 * `docker import`: one layer from a rootfs tar (plain, gzip or zstd) plus a config built from
 * `changes`. The layer blob is stored as given; its diff id is the sha256 of the tar inside.
 * Internal to libs/image.
 */
export async function importRootfs(
  d: CommitDeps,
  req: { path: string; reference: string; changes: string[]; message: string; platform?: { os?: string; architecture?: string; variant?: string } },
  ctx: CallContext,
): Promise<string> {
  if (!req.path.startsWith('/')) throw E.InvalidArgument(`the rootfs tarball path must be absolute, not "${req.path}"`);
  const tag = req.reference ? parseReference(req.reference) : undefined;
  if (tag?.digest) throw E.InvalidReference(req.reference, 'an imported image is tagged, not pinned by digest');
  const changes = applyChanges({}, req.changes);
  try {
    if (!(await stat(req.path)).isFile()) throw new Error('not a regular file');
  } catch (e) {
    throw E.ImageArchiveInvalid('the rootfs tarball', `cannot read it: ${(e as Error).message}`);
  }
  const kind = await sniffCompression(req.path);
  // diff id: sha256 of the uncompressed tar; the tar must at least be one (checked by storage on apply).
  const diffHash = createHash('sha256');
  const sink = new Writable({ write(c: Buffer, _e, cb) { diffHash.update(c); cb(); } });
  const dz = decompressor(kind);
  try {
    await (dz ? pipeline(createReadStream(req.path), dz, sink) : pipeline(createReadStream(req.path), sink));
  } catch (e) {
    throw E.ImageArchiveInvalid('the rootfs tarball', `it cannot be decompressed: ${(e as Error).message}`);
  }
  const diffId = `sha256:${diffHash.digest('hex')}`;
  const tmp = join(d.content.ingestDir, `import-${randomBytes(8).toString('hex')}`);
  let size = 0;
  try {
    await pipeline(createReadStream(req.path), new Transform({ transform(c: Buffer, _e, cb) { size += c.length; cb(null, c); } }), createWriteStream(tmp, { mode: 0o600 }));
    const digest = await d.content.adopt(tmp, 'imported layer');
    const host = hostPlatform();
    const created = new Date().toISOString();
    const comment = req.message || 'Imported from -';
    const config = Buffer.from(
      JSON.stringify({
        architecture: req.platform?.architecture || host.architecture,
        ...(req.platform?.variant || (!req.platform?.architecture && host.variant) ? { variant: req.platform?.variant || host.variant } : {}),
        os: req.platform?.os || host.os,
        created,
        comment,
        config: changes,
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created, created_by: '', comment }],
      }),
    );
    const mediaType = kind === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : kind === 'zstd' ? 'application/vnd.oci.image.layer.v1.tar+zstd' : 'application/vnd.oci.image.layer.v1.tar';
    const id = await commitImage(d, { config, layers: [{ digest, mediaType, size }], tags: tag ? [normalizedString(tag)] : [], emit: ctx.onProgress }, ctx);
    ctx.log.info({ imageId: id, ref: tag ? normalizedString(tag) : '' }, 'image imported');
    return id;
  } finally {
    await rm(tmp, { force: true });
  }
}
