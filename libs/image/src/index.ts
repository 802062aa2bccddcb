/**
 * @conga/image — the image service: registry client, content store, image metadata.
 * Public API: {@link createImageService}, reference helpers, the conformance suite lives in
 * ./testsuite (import it from '@conga/image/src/testsuite' in tests only).
 */
export { createImageService, type ImageServiceOptions, type LocalImageService } from './image-service';
export {
  parseReference,
  normalizeReference,
  normalizedString,
  familiarString,
  familiarName,
  fullName,
  isFullImageId,
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  type ImageReference,
} from './reference';
export { chainIds } from './puller';
export { hostPlatform, platformString, type PlatformSpec } from './manifest';
