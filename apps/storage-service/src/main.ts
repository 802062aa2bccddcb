import { layout } from '@conga/common';
import { exitOnError, runServiceMain } from '@conga/rpc';
import { createStorageService } from '@conga/storage';

// storage-service: layers and container rootfs, served over gRPC (split mode).
runServiceMain('storage', ({ paths, log }) => createStorageService({ dir: layout.storageDir(paths), log })).catch(exitOnError);
