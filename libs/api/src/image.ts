import type { CallContext } from '@conga/common';
import type { Image__Output } from './generated/conga/services/image/v1/Image';
import type { PullImageRequest } from './generated/conga/services/image/v1/PullImageRequest';
import type { GetImageRequest } from './generated/conga/services/image/v1/GetImageRequest';
import type { ListImagesRequest } from './generated/conga/services/image/v1/ListImagesRequest';
import type { ListImagesResponse__Output } from './generated/conga/services/image/v1/ListImagesResponse';
import type { DeleteImageRequest } from './generated/conga/services/image/v1/DeleteImageRequest';
import type { DeleteImageResponse__Output } from './generated/conga/services/image/v1/DeleteImageResponse';
import type { Platform__Output } from './generated/conga/services/image/v1/Platform';
import type { RegistryAuth } from './generated/conga/services/image/v1/RegistryAuth';
import type { LoginRequest } from './generated/conga/services/image/v1/LoginRequest';
import type { LoginResponse__Output } from './generated/conga/services/image/v1/LoginResponse';
import type { LogoutRequest } from './generated/conga/services/image/v1/LogoutRequest';
import type { LogoutResponse__Output } from './generated/conga/services/image/v1/LogoutResponse';
import type { TagImageRequest } from './generated/conga/services/image/v1/TagImageRequest';
import type { PushImageRequest } from './generated/conga/services/image/v1/PushImageRequest';
import type { PushResult__Output } from './generated/conga/services/image/v1/PushResult';
import type { PruneImagesRequest } from './generated/conga/services/image/v1/PruneImagesRequest';
import type { PruneImagesResponse__Output } from './generated/conga/services/image/v1/PruneImagesResponse';
import type { SaveImagesRequest } from './generated/conga/services/image/v1/SaveImagesRequest';
import type { SaveImagesResponse__Output } from './generated/conga/services/image/v1/SaveImagesResponse';
import type { LoadImagesRequest } from './generated/conga/services/image/v1/LoadImagesRequest';
import type { LoadResult__Output } from './generated/conga/services/image/v1/LoadResult';
import type { ImportImageRequest } from './generated/conga/services/image/v1/ImportImageRequest';

export type Image = Image__Output;
export type Platform = Platform__Output;
export type { PullImageRequest, GetImageRequest, ListImagesRequest, DeleteImageRequest };
export type ListImagesResponse = ListImagesResponse__Output;
export type DeleteImageResponse = DeleteImageResponse__Output;
export type { RegistryAuth, LoginRequest, LogoutRequest, TagImageRequest, PushImageRequest, PruneImagesRequest, SaveImagesRequest, LoadImagesRequest, ImportImageRequest };
export type LoginResponse = LoginResponse__Output;
export type LogoutResponse = LogoutResponse__Output;
export type PushResult = PushResult__Output;
export type PruneImagesResponse = PruneImagesResponse__Output;
export type SaveImagesResponse = SaveImagesResponse__Output;
export type LoadResult = LoadResult__Output;

/**
 * The image service (proto: conga.services.image.v1.Images). Implemented in process by
 * libs/image and remotely by the gRPC proxy in libs/rpc; callers cannot tell which they hold.
 * pullImage reports progress through ctx.onProgress.
 */
export interface ImageService {
  pullImage(req: PullImageRequest, ctx: CallContext): Promise<Image>;
  getImage(req: GetImageRequest, ctx: CallContext): Promise<Image>;
  listImages(req: ListImagesRequest, ctx: CallContext): Promise<ListImagesResponse>;
  deleteImage(req: DeleteImageRequest, ctx: CallContext): Promise<DeleteImageResponse>;
  login(req: LoginRequest, ctx: CallContext): Promise<LoginResponse>;
  logout(req: LogoutRequest, ctx: CallContext): Promise<LogoutResponse>;
  tagImage(req: TagImageRequest, ctx: CallContext): Promise<Image>;
  /** Reports progress through ctx.onProgress. */
  pushImage(req: PushImageRequest, ctx: CallContext): Promise<PushResult>;
  pruneImages(req: PruneImagesRequest, ctx: CallContext): Promise<PruneImagesResponse>;
  saveImages(req: SaveImagesRequest, ctx: CallContext): Promise<SaveImagesResponse>;
  /** Reports progress through ctx.onProgress. */
  loadImages(req: LoadImagesRequest, ctx: CallContext): Promise<LoadResult>;
  /** Reports progress through ctx.onProgress. */
  importImage(req: ImportImageRequest, ctx: CallContext): Promise<Image>;
}
