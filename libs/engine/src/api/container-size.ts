import type { CallContext } from '@conga/common';
import type { Engine } from '../engine';

/** docker's SizeRw (the writable layer) and SizeRootFs (that plus the image) of a container. */
export interface ContainerSize {
  SizeRw: number;
  SizeRootFs: number;
}

/**
 * Sizes of every container that has a rootfs, by container id, for `?size=1` lists, inspect and
 * /system/df. Walks each writable layer (in the storage service), so only on request.
 */
export async function containerSizes(engine: Engine, ctx: CallContext): Promise<Map<string, ContainerSize>> {
  const [{ rootfs }, { images }] = await Promise.all([engine.services.storage.listRootfs({ size: true }, ctx), engine.services.image.listImages({}, ctx)]);
  const imageSize = new Map(images.map((i) => [i.id, Number(i.size) || 0]));
  const out = new Map<string, ContainerSize>();
  for (const c of engine.containers.list(true)) {
    const r = rootfs.find((x) => x.containerId === c.Id);
    const rw = Number(r?.sizeRw ?? 0);
    out.set(c.Id, { SizeRw: rw, SizeRootFs: rw + (imageSize.get(c.ImageID) ?? 0) });
  }
  return out;
}
