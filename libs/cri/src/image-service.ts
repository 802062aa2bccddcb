import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Image, ImageService as EngineImages, RegistryAuth } from '@conga/api';
import type { AuthConfig__Output } from '@conga/api/src/generated/runtime/v1/AuthConfig';
import type { ImageSpec__Output } from '@conga/api/src/generated/runtime/v1/ImageSpec';
import type { Image as CriImage } from '@conga/api/src/generated/runtime/v1/Image';
import { E, toCongaError, type CallContext } from '@conga/common';

/**
 * CRI ImageService over the engine's image service. Like containerd: a missing image is an
 * empty ImageStatus and a successful RemoveImage, PullImage answers the image id, and the
 * credentials of a pull are used for that pull only (never stored).
 */
export class CriImageService {
  constructor(
    private readonly images: EngineImages,
    /** Image ids that containers use (RemoveImage keeps those). */
    private readonly inUse: () => string[],
    /** Directories whose disk usage is the image filesystem (image store, layers). */
    private readonly fsDirs: string[],
  ) {}

  handlers() {
    return {
      listImages: (req: { filter: { image: ImageSpec__Output | null } | null }, ctx: CallContext) => this.listImages(req, ctx),
      imageStatus: (req: { image: ImageSpec__Output | null; verbose: boolean }, ctx: CallContext) => this.imageStatus(req, ctx),
      pullImage: (req: { image: ImageSpec__Output | null; auth: AuthConfig__Output | null }, ctx: CallContext) => this.pullImage(req, ctx),
      removeImage: (req: { image: ImageSpec__Output | null }, ctx: CallContext) => this.removeImage(req, ctx),
      imageFsInfo: () => this.imageFsInfo(),
    };
  }

  async listImages(req: { filter: { image: ImageSpec__Output | null } | null }, ctx: CallContext): Promise<{ images: CriImage[] }> {
    const ref = req.filter?.image?.image ?? '';
    if (ref) {
      const img = await this.find(ref, ctx);
      return { images: img ? [toCri(img)] : [] };
    }
    const { images } = await this.images.listImages({ references: [] }, ctx);
    return { images: images.map(toCri) };
  }

  async imageStatus(req: { image: ImageSpec__Output | null; verbose: boolean }, ctx: CallContext): Promise<{ image: CriImage | null; info: Record<string, string> }> {
    const img = await this.find(specRef(req.image), ctx);
    if (!img) return { image: null, info: {} };
    const info: Record<string, string> = {};
    if (req.verbose) {
      let config: unknown = {};
      try {
        config = JSON.parse(img.configJson || '{}');
      } catch {
        /* shown as {} */
      }
      info.info = JSON.stringify({ id: img.id, manifestDigest: img.manifestDigest, chainIds: img.chainIds, platform: img.platform, imageSpec: config });
    }
    return { image: toCri(img), info };
  }

  async pullImage(req: { image: ImageSpec__Output | null; auth: AuthConfig__Output | null }, ctx: CallContext): Promise<{ imageRef: string }> {
    const ref = specRef(req.image);
    const img = await this.images.pullImage({ reference: ref, auth: registryAuth(req.auth) }, ctx);
    return { imageRef: img.id };
  }

  async removeImage(req: { image: ImageSpec__Output | null }, ctx: CallContext): Promise<Record<string, never>> {
    const img = await this.find(specRef(req.image), ctx);
    if (!img) return {};
    // By id with force: every tag goes; an image containers still use is refused.
    await this.images.deleteImage({ reference: img.id, force: true, inUseImageIds: this.inUse() }, ctx);
    return {};
  }

  async imageFsInfo(): Promise<unknown> {
    const timestamp = Date.now() * 1e6;
    const imageFilesystems = [];
    for (const dir of this.fsDirs) {
      const u = await usage(dir);
      imageFilesystems.push({ timestamp, fsId: { mountpoint: dir }, usedBytes: { value: u.bytes }, inodesUsed: { value: u.inodes } });
    }
    return { imageFilesystems, containerFilesystems: [] };
  }

  /** The image a reference (name, id or digest reference) names, or undefined. */
  private async find(ref: string, ctx: CallContext): Promise<Image | undefined> {
    try {
      return await this.images.getImage({ reference: ref }, ctx);
    } catch (e) {
      if (toCongaError(e).kind === 'NotFound') return undefined;
      throw e;
    }
  }
}

function specRef(spec: ImageSpec__Output | null): string {
  const ref = spec?.image ?? '';
  if (!ref) throw E.InvalidArgument('ImageSpec.image is empty: name the image (e.g. busybox:1.36 or sha256:<id>)');
  return ref;
}

/** CRI credentials as the image service's per-pull auth ("auth" is base64 "user:password"). */
export function registryAuth(a: AuthConfig__Output | null): RegistryAuth | undefined {
  if (!a) return undefined;
  let { username, password } = a;
  if (!username && a.auth) {
    const plain = Buffer.from(a.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i < 0) throw E.InvalidArgument('AuthConfig.auth must be base64 of "username:password"');
    username = plain.slice(0, i);
    password = plain.slice(i + 1);
  }
  if (!username && !password && !a.identityToken && !a.registryToken) return undefined;
  return { username, password, identityToken: a.identityToken, registryToken: a.registryToken, serverAddress: a.serverAddress };
}

export function toCri(img: Image): CriImage {
  let user = '';
  try {
    user = String(JSON.parse(img.configJson || '{}')?.config?.User ?? '');
  } catch {
    /* no user */
  }
  // kubelet's runAsNonRoot check reads uid (numeric user) or username (a name).
  const name = user.split(':')[0];
  const numeric = /^\d+$/.test(name);
  return {
    id: img.id,
    repoTags: img.repoTags,
    repoDigests: img.repoDigests,
    size: img.size,
    uid: numeric ? { value: Number(name) } : null,
    username: numeric ? '' : name,
    spec: { image: img.id, annotations: {} },
    pinned: false,
  };
}

/** Bytes and inodes under a directory, staying on its filesystem (container overlays are mounts). */
async function usage(dir: string): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  let dev: number;
  try {
    dev = (await lstat(dir)).dev;
  } catch {
    return { bytes, inodes };
  }
  const seen = new Set<number>();
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = await lstat(p).catch(() => undefined);
      if (!st || st.dev !== dev) continue;
      inodes++;
      if (st.nlink > 1) {
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
      }
      bytes += st.blocks * 512;
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return { bytes, inodes };
}
