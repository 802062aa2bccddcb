import type { CallContext } from '@conga/common';
import type { Layer__Output } from './generated/conga/services/storage/v1/Layer';
import type { Rootfs__Output } from './generated/conga/services/storage/v1/Rootfs';
import type { ApplyLayerRequest } from './generated/conga/services/storage/v1/ApplyLayerRequest';
import type { GetLayerRequest } from './generated/conga/services/storage/v1/GetLayerRequest';
import type { ListLayersRequest } from './generated/conga/services/storage/v1/ListLayersRequest';
import type { ListLayersResponse__Output } from './generated/conga/services/storage/v1/ListLayersResponse';
import type { DeleteLayerRequest } from './generated/conga/services/storage/v1/DeleteLayerRequest';
import type { CreateRootfsRequest } from './generated/conga/services/storage/v1/CreateRootfsRequest';
import type { MountRootfsRequest } from './generated/conga/services/storage/v1/MountRootfsRequest';
import type { UnmountRootfsRequest } from './generated/conga/services/storage/v1/UnmountRootfsRequest';
import type { RemoveRootfsRequest } from './generated/conga/services/storage/v1/RemoveRootfsRequest';
import type { GetRootfsRequest } from './generated/conga/services/storage/v1/GetRootfsRequest';
import type { ListRootfsRequest } from './generated/conga/services/storage/v1/ListRootfsRequest';
import type { ListRootfsResponse__Output } from './generated/conga/services/storage/v1/ListRootfsResponse';
import type { Empty__Output } from './generated/conga/services/common/v1/Empty';

export type Layer = Layer__Output;
export type Rootfs = Rootfs__Output;
export type Empty = Empty__Output;
export type ListLayersResponse = ListLayersResponse__Output;
export type ListRootfsResponse = ListRootfsResponse__Output;
export type {
  ApplyLayerRequest, GetLayerRequest, ListLayersRequest, DeleteLayerRequest, CreateRootfsRequest,
  MountRootfsRequest, UnmountRootfsRequest, RemoveRootfsRequest, GetRootfsRequest, ListRootfsRequest,
};

/**
 * The storage service (proto: conga.services.storage.v1.Storage): unpacked layers keyed by chain
 * ID and container rootfs as overlay mounts. Implemented by libs/storage and the gRPC proxy.
 */
export interface StorageService {
  applyLayer(req: ApplyLayerRequest, ctx: CallContext): Promise<Layer>;
  getLayer(req: GetLayerRequest, ctx: CallContext): Promise<Layer>;
  listLayers(req: ListLayersRequest, ctx: CallContext): Promise<ListLayersResponse>;
  deleteLayer(req: DeleteLayerRequest, ctx: CallContext): Promise<Empty>;
  createRootfs(req: CreateRootfsRequest, ctx: CallContext): Promise<Rootfs>;
  mountRootfs(req: MountRootfsRequest, ctx: CallContext): Promise<Rootfs>;
  unmountRootfs(req: UnmountRootfsRequest, ctx: CallContext): Promise<Rootfs>;
  removeRootfs(req: RemoveRootfsRequest, ctx: CallContext): Promise<Empty>;
  getRootfs(req: GetRootfsRequest, ctx: CallContext): Promise<Rootfs>;
  listRootfs(req: ListRootfsRequest, ctx: CallContext): Promise<ListRootfsResponse>;
}
