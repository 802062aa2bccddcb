import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { E, KeyedMutex, digestHex, dirSize, isCongaError, isDigest, type CallContext, type Logger } from '@conga/common';
import type {
  ApplyLayerRequest, CreateRootfsRequest, DeleteLayerRequest, Empty, GetLayerRequest, GetRootfsRequest, Layer,
  ListLayersRequest, ListLayersResponse, ListRootfsRequest, ListRootfsResponse, MountRootfsRequest, RemoveRootfsRequest,
  Rootfs, StorageService, UnmountRootfsRequest,
} from '@conga/api';
import { decompressor, isLayerMediaType, sniffCompression, sniffStreamCompression } from './decompress';
import { HashingStream } from './hashing-stream';

import { CONTAINER_ID_RE, Layout } from './layout';
import { mountPoints, mountsUnder } from './mountinfo';
import { mountOverlay, unmount, unmountAllUnder } from './overlay';
import { recover } from './recovery';
import { extractTar } from './safe-extract';
import { StorageDb, type LayerRow, type RootfsRow } from './storage-db';

/** Options of {@link createStorageService}. */
export interface StorageServiceOptions {
  /** The service's state directory, e.g. `<root>/storage`; created if missing. */
  dir: string;
  log: Logger;
}

/** The in-process storage service plus its lifecycle. */
export type LocalStorageService = StorageService & {
  /** Close the database after in-flight calls settle. Mounts stay (live restore). Idempotent. */
  close(): Promise<void>;
};

const tmpName = (prefix: string, id: string) => `${prefix}${id}-${randomBytes(4).toString('hex')}`;

/** The chain ID of a layer: its diff ID for a base layer, else sha256(parent + " " + diffID). */
export function chainIdOf(parentChainId: string, diffId: string): string {
  if (!parentChainId) return diffId;
  return 'sha256:' + createHash('sha256').update(`${parentChainId} ${diffId}`).digest('hex');
}

function toLayer(r: LayerRow): Layer {
  return { chainId: r.chainId, parentChainId: r.parent, diffId: r.diffId, size: r.size };
}

function validContainerId(id: string | undefined): string {
  const v = id ?? '';
  if (!CONTAINER_ID_RE.test(v)) throw E.InvalidArgument(`invalid container id "${v}": expected 64 lowercase hex characters`);
  return v;
}

function validChainId(id: string | undefined, field = 'chain_id'): string {
  const v = id ?? '';
  if (!isDigest(v)) throw E.InvalidArgument(`invalid ${field} "${v}": expected sha256:<64 lowercase hex digits>`);
  return v;
}

/** Errors out of the decompress/tar pipeline that are not ours: the archive is corrupt. */
function classifyUnpackError(e: unknown): Error {
  if (isCongaError(e)) return e;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.syscall === 'string') return E.Internal(`unpacking layer failed: ${err.message}`);
  return E.BadArchive(err?.message ?? String(e));
}

class LocalStorage implements StorageService {
  private readonly locks = new KeyedMutex();
  /** Parent chain ID → number of child layers being applied on it right now. */
  private readonly applyingOn = new Map<string, number>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed: Promise<void> | undefined;
  /** Emits a layer's chain ID when its row is inserted (streamed applies wait for their parent). */
  private readonly inserted = new EventEmitter().setMaxListeners(0);

  constructor(
    private readonly layout: Layout,
    private readonly db: StorageDb,
    private readonly log: Logger,
  ) {}

  private track<T>(p: Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(E.ServiceUnavailable('storage', 'the service is closed'));
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  // ---------------------------------------------------------------- layers

  applyLayer(req: ApplyLayerRequest, ctx: CallContext): Promise<Layer> {
    return this.track(this.doApplyLayer(req, ctx));
  }

  private async doApplyLayer(req: ApplyLayerRequest, ctx: CallContext): Promise<Layer> {
    const chainId = validChainId(req.chainId);
    const parent = req.parentChainId ? validChainId(req.parentChainId, 'parent_chain_id') : '';
    const diffId = validChainId(req.diffId, 'diff_id');
    const blobPath = req.blobPath ?? '';
    const blobSocket = req.blobSocket ?? '';
    const mediaType = req.mediaType ?? '';
    if (blobSocket && !isAbsolute(blobSocket)) throw E.InvalidArgument(`blob_socket "${blobSocket}" must be an absolute path to a unix socket`);
    if (chainIdOf(parent, diffId) !== chainId) {
      throw E.InvalidArgument(`chain_id ${chainId} does not match parent ${parent || '(none)'} and diff_id ${diffId}: expected ${chainIdOf(parent, diffId)}`);
    }
    if (!isLayerMediaType(mediaType)) throw E.InvalidArgument(`unsupported layer media type "${mediaType}": expected an OCI or Docker layer tar (plain or gzip)`);
    return this.locks.run(`layer:${chainId}`, async () => {
      const existing = this.db.getLayer(chainId);
      if (existing) return toLayer(existing);
      if (!blobSocket) {
        if (!isAbsolute(blobPath)) throw E.InvalidArgument(`blob_path "${blobPath}" must be an absolute path to the layer blob`);
        try {
          if (!(await stat(blobPath)).isFile()) throw new Error('not a regular file');
        } catch (e) {
          throw E.InvalidArgument(`layer blob ${blobPath} cannot be read: ${(e as Error).message}`);
        }
      }
      // Checked and reserved in one synchronous step, so deleteLayer(parent) cannot slip in. A
      // streamed apply may start before its parent is there; it waits for it before committing.
      if (parent) {
        if (!blobSocket && !this.db.getLayer(parent)) throw E.LayerNotFound(parent);
        this.applyingOn.set(parent, (this.applyingOn.get(parent) ?? 0) + 1);
      }
      try {
        return await this.unpack(chainId, parent, diffId, blobSocket ? { socket: blobSocket } : { path: blobPath }, mediaType, ctx);
      } finally {
        if (parent) {
          const n = (this.applyingOn.get(parent) ?? 1) - 1;
          if (n > 0) this.applyingOn.set(parent, n);
          else this.applyingOn.delete(parent);
        }
      }
    });
  }

  /** Resolves once `chainId`'s row exists; rejects when the call is canceled. */
  private layerInserted(chainId: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (e?: Error) => {
        this.inserted.off(chainId, onInsert);
        signal?.removeEventListener('abort', onAbort);
        if (e) reject(e);
        else resolve();
      };
      const onInsert = () => done();
      const onAbort = () => done(E.Canceled(`waiting for parent layer ${chainId}`));
      this.inserted.on(chainId, onInsert);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.db.getLayer(chainId)) done();
      else if (signal?.aborted) onAbort();
    });
  }

  /** The blob's bytes: the file, or the socket it streams through as it downloads. */
  private async openBlob(src: { path: string } | { socket: string }): Promise<Readable> {
    if ('path' in src) return createReadStream(src.path);
    const sock = connect(src.socket);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', (e) => reject(E.InvalidArgument(`blob_socket ${src.socket} cannot be reached: ${e.message}`)));
    });
    return sock;
  }

  private async unpack(chainId: string, parent: string, diffId: string, src: { path: string } | { socket: string }, mediaType: string, ctx: CallContext): Promise<Layer> {
    const final = this.layout.layer(chainId);
    const tmp = join(this.layout.layersDir, tmpName('.tmp-', digestHex(chainId)));
    const blob = await this.openBlob(src);
    let kind;
    try {
      kind = 'path' in src ? await sniffCompression(src.path) : await sniffStreamCompression(blob);
    } catch (e) {
      blob.destroy();
      throw e;
    }
    const dz = decompressor(kind, mediaType);
    await mkdir(tmp, { mode: 0o755 });
    const started = Date.now();
    let size = 0;
    try {
      const hasher = new HashingStream();
      const streams: Readable[] = [blob];
      if (dz) streams.push(dz);
      streams.push(hasher);
      for (let i = 0; i < streams.length; i++) {
        if (i > 0) streams[i - 1].pipe(streams[i] as unknown as NodeJS.WritableStream);
        if (i < streams.length - 1) streams[i].on('error', (e) => hasher.destroy(e));
      }
      const onAbort = () => hasher.destroy(E.Canceled(`applying layer ${chainId}`));
      if (ctx.signal?.aborted) onAbort();
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      let stats;
      try {
        stats = await extractTar(hasher, tmp, ctx.log);
      } catch (e) {
        for (const s of streams) s.destroy();
        throw classifyUnpackError(e);
      } finally {
        ctx.signal?.removeEventListener('abort', onAbort);
      }
      if (hasher.digest !== diffId) throw E.DigestMismatch(`layer ${chainId} (uncompressed)`, diffId, hasher.digest ?? 'an incomplete stream');
      if (stats.skippedXattrs) ctx.log.warn({ chainId, skipped: stats.skippedXattrs }, 'some layer xattrs were not applied');
      size = stats.size;
      if (parent && !this.db.getLayer(parent)) await this.layerInserted(parent, ctx.signal);
      rmSync(final, { recursive: true, force: true }); // a stale dir cannot exist after recovery; be sure
      await rename(tmp, final);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    try {
      this.ensureLink(chainId);
      const row: LayerRow = { chainId, parent, diffId, size };
      this.db.insertLayer(row);
      this.inserted.emit(chainId);
      ctx.log.info({ chainId, size: row.size, ms: Date.now() - started }, 'layer applied');
      return toLayer(row);
    } catch (e) {
      this.removeLink(chainId);
      await rm(final, { recursive: true, force: true });
      throw e;
    }
  }

  /** Create <dir>/l/<short> → ../layers/<hex> (idempotent; a foreign link is an error). */
  private ensureLink(chainId: string): void {
    const link = this.layout.link(chainId);
    const want = this.layout.linkTarget(chainId);
    try {
      const have = readlinkSync(link);
      if (have === want) return;
      throw E.Internal(`layer link ${link} points to ${have}, not ${want} (short id collision)`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    symlinkSync(want, link);
  }

  private removeLink(chainId: string): void {
    try {
      if (readlinkSync(this.layout.link(chainId)) === this.layout.linkTarget(chainId)) unlinkSync(this.layout.link(chainId));
    } catch {
      /* absent */
    }
  }

  async getLayer(req: GetLayerRequest, _ctx: CallContext): Promise<Layer> {
    const chainId = validChainId(req.chainId);
    const row = this.db.getLayer(chainId);
    if (!row) throw E.LayerNotFound(chainId);
    return toLayer(row);
  }

  async listLayers(_req: ListLayersRequest, _ctx: CallContext): Promise<ListLayersResponse> {
    return { layers: this.db.listLayers().map(toLayer) };
  }

  deleteLayer(req: DeleteLayerRequest, ctx: CallContext): Promise<Empty> {
    return this.track(
      (async () => {
        const chainId = validChainId(req.chainId);
        return this.locks.run(`layer:${chainId}`, async () => {
          // Checks and the row delete are one synchronous step (no await in between).
          if (!this.db.getLayer(chainId)) throw E.LayerNotFound(chainId);
          const child = this.db.childOf(chainId);
          if (child) throw E.LayerInUse(chainId, `layer ${child}`);
          const user = this.db.rootfsOn(chainId);
          if (user) throw E.LayerInUse(chainId, `the rootfs of container ${user}`);
          if (this.applyingOn.has(chainId)) throw E.LayerInUse(chainId, 'a layer being applied on top of it');
          this.db.deleteLayer(chainId);
          this.removeLink(chainId);
          const trash = join(this.layout.layersDir, tmpName('.trash-', digestHex(chainId)));
          try {
            renameSync(this.layout.layer(chainId), trash);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
          await rm(trash, { recursive: true, force: true });
          ctx.log.info({ chainId }, 'layer deleted');
          return {};
        });
      })(),
    );
  }

  // ---------------------------------------------------------------- rootfs

  private toRootfs(r: RootfsRow, mounts?: Set<string>): Rootfs {
    const mountPath = this.layout.merged(r.containerId);
    const mounted = (mounts ?? new Set(mountPoints())).has(mountPath);
    return { containerId: r.containerId, chainId: r.chainId, mountPath, mounted, sizeRw: 0 };
  }

  /** The writable layer's size (docker's SizeRw): the upper dir of the overlay. */
  private async withSize(r: Rootfs): Promise<Rootfs> {
    return { ...r, sizeRw: await dirSize(join(this.layout.rootfs(r.containerId), 'upper')) };
  }

  private rootfsRow(containerId: string): RootfsRow {
    const row = this.db.getRootfs(containerId);
    if (!row) throw E.RootfsNotFound(containerId);
    return row;
  }

  createRootfs(req: CreateRootfsRequest, ctx: CallContext): Promise<Rootfs> {
    return this.track(
      (async () => {
        const containerId = validContainerId(req.containerId);
        const chainId = req.chainId ? validChainId(req.chainId) : '';
        return this.locks.run(`rootfs:${containerId}`, async () => {
          // All synchronous: the layer check and the row insert cannot interleave with deleteLayer.
          if (this.db.getRootfs(containerId)) throw E.RootfsExists(containerId);
          if (chainId && !this.db.getLayer(chainId)) throw E.LayerNotFound(chainId);
          const final = this.layout.rootfs(containerId);
          const tmp = join(this.layout.rootfsDir, tmpName('.tmp-', containerId));
          try {
            mkdirSync(tmp, { mode: 0o700 });
            for (const sub of ['upper', 'work', 'merged']) mkdirSync(join(tmp, sub), { mode: 0o755 });
            if (mountsUnder(final).length === 0) rmSync(final, { recursive: true, force: true });
            renameSync(tmp, final);
            this.db.insertRootfs({ containerId, chainId });
          } catch (e) {
            rmSync(tmp, { recursive: true, force: true });
            throw e;
          }
          ctx.log.info({ containerId, chainId }, 'rootfs created');
          return this.toRootfs({ containerId, chainId });
        });
      })(),
    );
  }

  mountRootfs(req: MountRootfsRequest, ctx: CallContext): Promise<Rootfs> {
    return this.track(
      (async () => {
        const containerId = validContainerId(req.containerId);
        return this.locks.run(`rootfs:${containerId}`, async () => {
          const row = this.rootfsRow(containerId);
          const current = this.toRootfs(row);
          if (current.mounted) return current;
          const lowers: string[] = [];
          for (let id = row.chainId; id; ) {
            const layer = this.db.getLayer(id);
            if (!layer) throw E.LayerNotFound(id);
            this.ensureLink(id);
            lowers.push(this.layout.linkRel(id));
            id = layer.parent;
          }
          if (lowers.length === 0) lowers.push('empty');
          const base = `rootfs/${containerId}`;
          await mountOverlay(this.layout.dir, lowers, `${base}/upper`, `${base}/work`, `${base}/merged`);
          ctx.log.info({ containerId, layers: lowers.length }, 'rootfs mounted');
          return this.toRootfs(row);
        });
      })(),
    );
  }

  unmountRootfs(req: UnmountRootfsRequest, ctx: CallContext): Promise<Rootfs> {
    return this.track(
      (async () => {
        const containerId = validContainerId(req.containerId);
        return this.locks.run(`rootfs:${containerId}`, async () => {
          const row = this.rootfsRow(containerId);
          await unmount(this.layout.merged(containerId));
          ctx.log.info({ containerId }, 'rootfs unmounted');
          return this.toRootfs(row);
        });
      })(),
    );
  }

  removeRootfs(req: RemoveRootfsRequest, ctx: CallContext): Promise<Empty> {
    return this.track(
      (async () => {
        const containerId = validContainerId(req.containerId);
        return this.locks.run(`rootfs:${containerId}`, async () => {
          this.rootfsRow(containerId);
          const dir = this.layout.rootfs(containerId);
          await unmountAllUnder(dir);
          const trash = join(this.layout.rootfsDir, tmpName('.trash-', containerId));
          try {
            renameSync(dir, trash);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
          this.db.deleteRootfs(containerId);
          await rm(trash, { recursive: true, force: true });
          ctx.log.info({ containerId }, 'rootfs removed');
          return {};
        });
      })(),
    );
  }

  async getRootfs(req: GetRootfsRequest, _ctx: CallContext): Promise<Rootfs> {
    const containerId = validContainerId(req.containerId);
    const r = this.toRootfs(this.rootfsRow(containerId));
    return req.size ? this.withSize(r) : r;
  }

  async listRootfs(req: ListRootfsRequest, _ctx: CallContext): Promise<ListRootfsResponse> {
    const mounts = new Set(mountPoints());
    const list = this.db.listRootfs().map((r) => this.toRootfs(r, mounts));
    return { rootfs: req.size ? await Promise.all(list.map((r) => this.withSize(r))) : list };
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      while (this.inflight.size) await Promise.allSettled([...this.inflight]);
      this.db.close();
      this.log.debug('storage service closed');
    })();
    return this.closed;
  }
}

/**
 * Open (or create) the storage service in `opts.dir`: leftovers of a crash are cleaned first
 * (temp dirs, rows without dirs, dirs without rows, stale links). Mounted rootfs stay mounted.
 * Owner: storage. The returned object is the in-process StorageService.
 */
export async function createStorageService(opts: StorageServiceOptions): Promise<LocalStorageService> {
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const layout = new Layout(realpathSync(opts.dir));
  for (const d of [layout.layersDir, layout.linksDir, layout.rootfsDir, layout.emptyDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  if (!statSync(layout.emptyDir).isDirectory()) throw E.Internal(`${layout.emptyDir} is not a directory`);
  const db = new StorageDb(layout.db);
  try {
    await recover(layout, db, opts.log);
  } catch (e) {
    db.close();
    throw e;
  }
  const svc = new LocalStorage(layout, db, opts.log);
  return svc;
}
