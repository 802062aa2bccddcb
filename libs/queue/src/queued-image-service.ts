import type { Image, ImageService, PullImageRequest } from '@conga/api';
import type { CallContext } from '@conga/common';
import { hostPlatform, normalizedString, parseReference } from '@conga/image';
import type { PullQueue } from './pull-queue';

function hasAuth(req: PullImageRequest): boolean {
  const a = req.auth;
  return Boolean(a && (a.username || a.password || a.identityToken || a.registryToken));
}

/**
 * An ImageService whose pullImage goes through the pull queue; every other method is the
 * given one (normally the gRPC proxy to image-service). The result is read back from the
 * image service, so it is exactly what an all-in-one pull returns. Pulls that carry their own
 * credentials go straight to the image service: secrets are never written to Redis.
 */
export function queuedImageService<T extends ImageService>(image: T, queue: PullQueue): T {
  const pullImage = async (req: PullImageRequest, ctx: CallContext): Promise<Image> => {
    if (hasAuth(req)) return image.pullImage(req, ctx);
    const ref = parseReference(req.reference ?? '');
    const host = hostPlatform();
    const platform = {
      os: req.platform?.os || host.os,
      architecture: req.platform?.architecture || host.architecture,
      variant: req.platform?.variant || (req.platform?.architecture ? '' : host.variant),
    };
    const reference = normalizedString(ref);
    const r = await queue.pull({ reference, platform, requestId: ctx.requestId }, ctx);
    return image.getImage({ reference: r?.id ?? reference }, ctx);
  };
  return { ...image, pullImage };
}
