/**
 * @conga/storage: the storage service in process (layers unpacked per chain ID, safe tar
 * extraction, overlay rootfs per container). Owner: storage. The conformance suite lives in
 * ./testsuite (import '@conga/storage/src/testsuite'), kept out of this barrel so that
 * production bundles do not pull in node:test.
 */
export { createStorageService, chainIdOf, type StorageServiceOptions, type LocalStorageService } from './storage-service';
export { extractTar, safeComponents, type ExtractStats } from './safe-extract';
