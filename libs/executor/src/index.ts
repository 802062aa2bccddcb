/**
 * @conga/executor: the executor service (OCI spec generation, runc under conmon).
 * Public API; owned by the executor.
 */
export { createExecutorService, type ExecutorOptions, type LocalExecutorService } from './executor-service';
export {
  generateSpec, computeCapabilities, normalizeCapability, type OciSpec, type GenerateSpecOptions,
  DEFAULT_CAPABILITIES, ALL_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, DEFAULT_CGROUP_PARENT,
} from './spec';
export { validateContainerId } from './ids';
export { makeBusyboxRootfs } from './busybox-rootfs';
export { connectAttachSocket, AttachConnection, type AttachSocketOptions } from './attach-socket';
export { parseK8sLog, EXEC_SYNC_MAX_OUTPUT } from './exec';
