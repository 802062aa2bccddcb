import { join } from 'node:path';
import { digestHex } from '@conga/common';

/** Length of the short layer link names under <dir>/l (keeps overlay mount options small). */
const SHORT_LEN = 20;

/** Container IDs storage accepts as directory names. */
export const CONTAINER_ID_RE = /^[a-f0-9]{64}$/;

/**
 * The on-disk layout of the storage service under its directory (owner: storage; may change):
 *   storage.db                 metadata (SQLite, WAL)
 *   layers/<hex>               unpacked layer (overlay lower dir), .tmp-* / .trash-* are transient
 *   l/<short>                  symlink to ../layers/<hex> (short mount options, as overlay2)
 *   rootfs/<id>/{upper,work,merged}  a container's writable layer and mount point
 *   empty/                     the lower dir of an empty rootfs
 */
export class Layout {
  constructor(readonly dir: string) {}

  get db(): string {
    return join(this.dir, 'storage.db');
  }
  get layersDir(): string {
    return join(this.dir, 'layers');
  }
  get linksDir(): string {
    return join(this.dir, 'l');
  }
  get rootfsDir(): string {
    return join(this.dir, 'rootfs');
  }
  get emptyDir(): string {
    return join(this.dir, 'empty');
  }
  /** Absolute path of a layer's unpacked dir (the chain ID is validated here). */
  layer(chainId: string): string {
    return join(this.layersDir, digestHex(chainId));
  }
  shortId(chainId: string): string {
    return digestHex(chainId).slice(0, SHORT_LEN);
  }
  /** Link path relative to `dir`, as used in mount options. */
  linkRel(chainId: string): string {
    return `l/${this.shortId(chainId)}`;
  }
  link(chainId: string): string {
    return join(this.dir, this.linkRel(chainId));
  }
  /** What a layer link points to (relative, so the tree can move). */
  linkTarget(chainId: string): string {
    return `../layers/${digestHex(chainId)}`;
  }
  rootfs(containerId: string): string {
    return join(this.rootfsDir, containerId);
  }
  merged(containerId: string): string {
    return join(this.rootfs(containerId), 'merged');
  }
}
