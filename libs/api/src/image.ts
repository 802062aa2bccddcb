import type { CallContext } from '@conga/common';
import type { Image__Output } from './generated/conga/services/image/v1/Image';
import type { PullImageRequest } from './generated/conga/services/image/v1/PullImageRequest';
import type { GetImageRequest } from './generated/conga/services/image/v1/GetImageRequest';
import type { ListImagesRequest } from './generated/conga/services/image/v1/ListImagesRequest';
import type { ListImagesResponse__Output } from './generated/conga/services/image/v1/ListImagesResponse';
import type { DeleteImageRequest } from './generated/conga/services/image/v1/DeleteImageRequest';
import type { DeleteImageResponse__Output } from './generated/conga/services/image/v1/DeleteImageResponse';
import type { Platform__Output } from './generated/conga/services/image/v1/Platform';

export type Image = Image__Output;
export type Platform = Platform__Output;
export type { PullImageRequest, GetImageRequest, ListImagesRequest, DeleteImageRequest };
export type ListImagesResponse = ListImagesResponse__Output;
export type DeleteImageResponse = DeleteImageResponse__Output;

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
}
