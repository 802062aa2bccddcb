import type { ExecutorService, ImageService, NetworkService, StorageService } from '@conga/api';

/**
 * The four services the engine orchestrates. In all-in-one mode these are the in-process libs;
 * in split mode they are gRPC proxies. The engine cannot tell which it holds.
 */
export interface Services {
  image: ImageService;
  storage: StorageService;
  network: NetworkService;
  executor: ExecutorService;
}
