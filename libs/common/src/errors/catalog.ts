import { defineError } from './conga-error';

/**
 * Every Conga error, declared once. Codes are stable: tools and tests may match on them.
 * Messages say what was wrong and, where it helps, what to do.
 */

// --- general
export const Internal = defineError('CONGA_ERR_INTERNAL', 'Internal', (msg: string) => msg);
export const InvalidArgument = defineError('CONGA_ERR_INVALID_ARGUMENT', 'InvalidArgument', (msg: string) => msg);
export const NotImplemented = defineError('CONGA_ERR_NOT_IMPLEMENTED', 'Unimplemented', (what: string) => `${what} is not implemented by conga yet`);
export const ServiceUnavailable = defineError('CONGA_ERR_SERVICE_UNAVAILABLE', 'Unavailable', (service: string, detail: string) => `the ${service} service is unavailable: ${detail}`);
export const Canceled = defineError('CONGA_ERR_CANCELED', 'Canceled', (what: string) => `${what} was canceled`);
export const Timeout = defineError('CONGA_ERR_TIMEOUT', 'DeadlineExceeded', (what: string) => `${what} timed out`);
export const InvalidConfig = defineError('CONGA_ERR_CONFIG_INVALID', 'InvalidArgument', (file: string, detail: string) => `invalid daemon configuration ${file}: ${detail}`);

// --- references and images
export const InvalidReference = defineError('CONGA_ERR_IMAGE_REFERENCE_INVALID', 'InvalidArgument', (ref: string, why: string) => `invalid reference format "${ref}": ${why}`);
export const ImageNotFound = defineError('CONGA_ERR_IMAGE_NOT_FOUND', 'NotFound', (ref: string) => `No such image: ${ref}`);
export const ManifestNotFound = defineError('CONGA_ERR_IMAGE_MANIFEST_NOT_FOUND', 'NotFound', (ref: string) => `manifest for ${ref} not found: manifest unknown`);
export const RepositoryNotFound = defineError('CONGA_ERR_IMAGE_REPOSITORY_NOT_FOUND', 'NotFound', (repo: string) => `repository ${repo} not found: does not exist or may require 'conga login'`);
export const RegistryUnreachable = defineError('CONGA_ERR_REGISTRY_UNREACHABLE', 'Unavailable', (registry: string, detail: string) => `cannot reach registry ${registry}: ${detail}`);
export const RegistryCertUntrusted = defineError('CONGA_ERR_REGISTRY_TLS_UNTRUSTED', 'Unavailable', (registry: string, detail: string, caPath: string) => `x509: the certificate of registry ${registry} is not trusted (${detail}): put the CA certificate that signed it in ${caPath}, or list the registry in insecure-registries`);
export const RegistryError = defineError('CONGA_ERR_REGISTRY', 'Unavailable', (registry: string, detail: string) => `registry ${registry} answered with an error: ${detail}`);
export const RegistryUnauthorized = defineError('CONGA_ERR_REGISTRY_UNAUTHORIZED', 'PermissionDenied', (registry: string, detail: string) => `access to ${registry} denied: ${detail}`);
export const UnsupportedManifest = defineError('CONGA_ERR_IMAGE_MANIFEST_UNSUPPORTED', 'InvalidArgument', (ref: string, mediaType: string) => `unsupported manifest media type ${mediaType} for ${ref}`);
export const NoMatchingPlatform = defineError('CONGA_ERR_IMAGE_PLATFORM_NOT_FOUND', 'NotFound', (ref: string, platform: string) => `no matching manifest for ${platform} in the manifest list entries of ${ref}`);
export const DigestMismatch = defineError('CONGA_ERR_IMAGE_DIGEST_MISMATCH', 'Aborted', (what: string, expected: string, actual: string) => `digest mismatch for ${what}: expected ${expected}, got ${actual}`);
export const InvalidDigest = defineError('CONGA_ERR_DIGEST_INVALID', 'InvalidArgument', (digest: string) => `invalid digest "${digest}": expected sha256:<64 hex digits>`);
export const ImageInUse = defineError('CONGA_ERR_IMAGE_IN_USE', 'FailedPrecondition', (ref: string, by: string) => `conflict: unable to remove image ${ref}: image is being used by container ${by} (use -f to force)`);
// (image service additions)
export const ImageReferencedInMultipleRepos = defineError('CONGA_ERR_IMAGE_MULTIPLE_REPOS', 'FailedPrecondition', (ref: string) => `conflict: unable to delete ${ref} (must be forced) - image is referenced in multiple repositories; remove it by name or use -f`);
export const InvalidImageConfig = defineError('CONGA_ERR_IMAGE_CONFIG_INVALID', 'InvalidArgument', (ref: string, detail: string) => `image ${ref} is malformed: ${detail}`);
export const ImageArchiveInvalid = defineError('CONGA_ERR_IMAGE_ARCHIVE_INVALID', 'InvalidArgument', (what: string, detail: string) => `${what} is not a usable image archive: ${detail}`);
export const ImportChangeInvalid = defineError('CONGA_ERR_IMAGE_CHANGE_INVALID', 'InvalidArgument', (change: string, why: string) => `invalid --change "${change}": ${why}`);
export const PushDenied = defineError('CONGA_ERR_IMAGE_PUSH_DENIED', 'PermissionDenied', (repo: string, detail: string) => `denied: push to ${repo} refused: ${detail}`);
export const RegistryRateLimited = defineError('CONGA_ERR_REGISTRY_RATE_LIMITED', 'ResourceExhausted', (registry: string, detail: string) => `registry ${registry} kept answering 429 Too Many Requests: ${detail}; wait and retry`);
export const BlobSizeExceeded = defineError('CONGA_ERR_IMAGE_BLOB_SIZE_EXCEEDED', 'Aborted', (what: string, expected: number) => `${what} is larger than the ${expected} bytes its descriptor declares: download aborted and discarded (the registry sent more data than the manifest allows)`);
export const PullStalled = defineError('CONGA_ERR_IMAGE_PULL_STALLED', 'DeadlineExceeded', (registry: string, what: string, detail: string) => `download of ${what} from registry ${registry} ${detail}: pull aborted and the partial download discarded; check the registry and the network, or relax the limit in daemon.json`);
export const BlobCorrupt = defineError('CONGA_ERR_IMAGE_BLOB_CORRUPT', 'Aborted', (what: string, expected: string, actual: string) => `${what} is corrupt on disk: its content hashes to ${actual}, not ${expected}; the damaged blob was removed: run 'conga rmi -f' on the images using it and pull them again`);

// --- storage
export const LayerNotFound = defineError('CONGA_ERR_STORAGE_LAYER_NOT_FOUND', 'NotFound', (chainId: string) => `layer ${chainId} not found`);
export const LayerInUse = defineError('CONGA_ERR_STORAGE_LAYER_IN_USE', 'FailedPrecondition', (chainId: string, by: string) => `layer ${chainId} is in use by ${by}`);
export const UnsafeArchive = defineError('CONGA_ERR_STORAGE_UNSAFE_ARCHIVE', 'InvalidArgument', (entry: string, why: string) => `refusing layer entry "${entry}": ${why}`);
export const BadArchive = defineError('CONGA_ERR_STORAGE_BAD_ARCHIVE', 'InvalidArgument', (detail: string) => `layer archive is corrupt: ${detail}`);
export const RootfsNotFound = defineError('CONGA_ERR_STORAGE_ROOTFS_NOT_FOUND', 'NotFound', (id: string) => `no rootfs for container ${id}`);
export const RootfsExists = defineError('CONGA_ERR_STORAGE_ROOTFS_EXISTS', 'AlreadyExists', (id: string) => `rootfs for container ${id} already exists`);
export const MountFailed = defineError('CONGA_ERR_STORAGE_MOUNT_FAILED', 'Internal', (target: string, detail: string) => `mounting ${target} failed: ${detail}`);

// --- network
export const NetworkNotFound = defineError('CONGA_ERR_NETWORK_NOT_FOUND', 'NotFound', (name: string) => `network ${name} not found`);
export const CniFailed = defineError('CONGA_ERR_NETWORK_CNI_FAILED', 'Internal', (plugin: string, command: string, detail: string) => `CNI plugin ${plugin} ${command} failed: ${detail}`);
export const NetnsFailed = defineError('CONGA_ERR_NETWORK_NETNS_FAILED', 'Internal', (detail: string) => `network namespace: ${detail}`);
export const NetworkConfigInvalid = defineError('CONGA_ERR_NETWORK_CONFIG_INVALID', 'InvalidArgument', (file: string, detail: string) => `invalid CNI network configuration ${file}: ${detail}; fix or remove the file`);
export const AttachmentNotFound = defineError('CONGA_ERR_NETWORK_ATTACHMENT_NOT_FOUND', 'NotFound', (id: string) => `container ${id} is not attached to any network`);
export const AttachmentConflict = defineError('CONGA_ERR_NETWORK_ATTACHMENT_CONFLICT', 'FailedPrecondition', (id: string, current: string, requested: string) => `container ${id} is already attached to network ${current}, not ${requested}: detach it first`);
export const NetworkExists = defineError('CONGA_ERR_NETWORK_EXISTS', 'AlreadyExists', (name: string) => `network with name ${name} already exists`);
export const NetworkInUse = defineError('CONGA_ERR_NETWORK_IN_USE', 'FailedPrecondition', (name: string, ids: string) => `error while removing network: network ${name} has active endpoints (containers ${ids}); stop or disconnect them first`);
export const NetworkBuiltin = defineError('CONGA_ERR_NETWORK_BUILTIN', 'PermissionDenied', (name: string) => `${name} is a pre-defined network and cannot be removed`);
export const SubnetOverlap = defineError('CONGA_ERR_NETWORK_SUBNET_OVERLAP', 'FailedPrecondition', (subnet: string, other: string, otherSubnet: string) => `invalid pool request: subnet ${subnet} overlaps with network ${other} (${otherSubnet}); choose another --subnet`);
export const PortAllocated = defineError('CONGA_ERR_NETWORK_PORT_ALLOCATED', 'FailedPrecondition', (addr: string, detail: string) => `driver failed programming external connectivity: Bind for ${addr} failed: port is already allocated (${detail})`);
export const NotConnected = defineError('CONGA_ERR_NETWORK_NOT_CONNECTED', 'FailedPrecondition', (id: string, network: string) => `container ${id} is not connected to network ${network}`);
export const AlreadyConnected = defineError('CONGA_ERR_NETWORK_ALREADY_CONNECTED', 'FailedPrecondition', (id: string, network: string) => `endpoint with name ${id} already exists in network ${network}`);

// --- executor
export const TaskNotFound = defineError('CONGA_ERR_EXECUTOR_TASK_NOT_FOUND', 'NotFound', (id: string) => `no task for container ${id}`);
export const TaskExists = defineError('CONGA_ERR_EXECUTOR_TASK_EXISTS', 'AlreadyExists', (id: string) => `a task for container ${id} already exists`);
export const TaskState = defineError('CONGA_ERR_EXECUTOR_TASK_STATE', 'FailedPrecondition', (id: string, detail: string) => `container ${id}: ${detail}`);
export const RuntimeFailed = defineError('CONGA_ERR_EXECUTOR_RUNTIME_FAILED', 'Internal', (op: string, detail: string) => `OCI runtime ${op} failed: ${detail}`);

// --- engine (containers)
export const ContainerNotFound = defineError('CONGA_ERR_CONTAINER_NOT_FOUND', 'NotFound', (idOrName: string) => `No such container: ${idOrName}`);
export const ContainerNameInUse = defineError('CONGA_ERR_CONTAINER_NAME_IN_USE', 'AlreadyExists', (name: string, id: string) => `Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`);
export const ContainerRunning = defineError('CONGA_ERR_CONTAINER_RUNNING', 'FailedPrecondition', (id: string) => `You cannot remove a running container ${id}. Stop the container before attempting removal or force remove`);
export const ContainerNotRunning = defineError('CONGA_ERR_CONTAINER_NOT_RUNNING', 'FailedPrecondition', (id: string) => `Container ${id} is not running`);
export const AmbiguousId = defineError('CONGA_ERR_AMBIGUOUS_ID', 'InvalidArgument', (prefix: string) => `multiple objects match the prefix ${prefix}: use more characters`);
// (lifecycle additions)
export const ContainerPaused = defineError('CONGA_ERR_CONTAINER_PAUSED', 'FailedPrecondition', (id: string) => `Container ${id} is paused. Unpause the container before stopping or killing`);
export const ContainerNotPaused = defineError('CONGA_ERR_CONTAINER_NOT_PAUSED', 'FailedPrecondition', (id: string) => `Container ${id} is not paused`);
// (cp / archive)
export const ContainerPathNotFound = defineError('CONGA_ERR_CONTAINER_PATH_NOT_FOUND', 'NotFound', (path: string, container: string) => `Could not find the file ${path} in container ${container}`);
export const CopyInvalid = defineError('CONGA_ERR_CONTAINER_COPY_INVALID', 'InvalidArgument', (path: string, container: string, why: string) => `cannot copy ${path} in container ${container}: ${why}`);
export const VolumeNotFound = defineError('CONGA_ERR_VOLUME_NOT_FOUND', 'NotFound', (name: string) => `get ${name}: no such volume`);
export const VolumeInUse = defineError('CONGA_ERR_VOLUME_IN_USE', 'FailedPrecondition', (name: string, ids: string) => `remove ${name}: volume is in use - [${ids}]`);

// --- exec/attach (owner: exec/attach, issue 4)
export const ExecNotFound = defineError('CONGA_ERR_EXEC_NOT_FOUND', 'NotFound', (id: string) => `No such exec instance: ${id}`);
export const ExecStarted = defineError('CONGA_ERR_EXEC_STARTED', 'FailedPrecondition', (id: string) => `Error: Exec command ${id} has already run: create a new exec instance to run the command again`);
export const UpgradeNotFound = defineError('CONGA_ERR_EXEC_UPGRADE_NOT_FOUND', 'NotFound', (what: string) => `page not found: ${what} (only container attach and exec start can be upgraded)`);
export const InvalidDetachKeys = defineError('CONGA_ERR_EXEC_DETACH_KEYS', 'InvalidArgument', (keys: string) => `Invalid detach keys (${keys}) provided: use a comma-separated list of a single character or ctrl-<value> (a-z, @, ^, [, \\, ], _)`);

// --- cli (apps/conga; owner: CLI). Usage errors (flags) exit 125 like docker; the rest exit 1.
export const CliUnknownCommand = defineError('CONGA_ERR_CLI_UNKNOWN_COMMAND', 'InvalidArgument', (cmd: string) => `conga: '${cmd}' is not a conga command.\nSee 'conga --help'`);
export const CliUnknownFlag = defineError('CONGA_ERR_CLI_UNKNOWN_FLAG', 'InvalidArgument', (flag: string, cmd: string) => `unknown flag: ${flag}\nSee '${cmd} --help'.`);
export const CliUnknownShorthand = defineError('CONGA_ERR_CLI_UNKNOWN_SHORTHAND', 'InvalidArgument', (ch: string, arg: string, cmd: string) => `unknown shorthand flag: '${ch}' in ${arg}\nSee '${cmd} --help'.`);
export const CliFlagNeedsArgument = defineError('CONGA_ERR_CLI_FLAG_NEEDS_ARGUMENT', 'InvalidArgument', (flag: string, cmd: string) => `flag needs an argument: ${flag}\nSee '${cmd} --help'.`);
export const CliInvalidFlagValue = defineError('CONGA_ERR_CLI_FLAG_VALUE_INVALID', 'InvalidArgument', (value: string, flag: string, why: string, cmd: string) => `invalid argument "${value}" for "${flag}" flag: ${why}\nSee '${cmd} --help'.`);
export const CliArgCount = defineError('CONGA_ERR_CLI_ARG_COUNT', 'InvalidArgument', (cmd: string, rule: string, usage: string) => `"${cmd}" ${rule}.\nSee '${cmd} --help'.\n\nUsage:  ${usage}`);
export const CliInvalidHost = defineError('CONGA_ERR_CLI_HOST_INVALID', 'InvalidArgument', (host: string, why: string) => `unable to use daemon host "${host}": ${why}`);
export const DaemonUnreachable = defineError('CONGA_ERR_CLI_DAEMON_UNREACHABLE', 'Unavailable', (host: string) => `Cannot connect to the Conga daemon at ${host}: is congad running?`);
export const DaemonPermissionDenied = defineError('CONGA_ERR_CLI_DAEMON_PERMISSION', 'PermissionDenied', (host: string) => `permission denied while trying to connect to the Conga daemon socket at ${host}: run as root or as a member of the conga group`);
export const DaemonBadRequest = defineError('CONGA_ERR_CLI_DAEMON_BAD_REQUEST', 'InvalidArgument', (message: string) => `Error response from daemon: ${message}`);
export const DaemonNotFound = defineError('CONGA_ERR_CLI_DAEMON_NOT_FOUND', 'NotFound', (message: string) => `Error response from daemon: ${message}`);
export const DaemonConflict = defineError('CONGA_ERR_CLI_DAEMON_CONFLICT', 'FailedPrecondition', (message: string) => `Error response from daemon: ${message}`);
export const DaemonError = defineError('CONGA_ERR_CLI_DAEMON_ERROR', 'Internal', (message: string) => `Error response from daemon: ${message}`);
export const DaemonStreamError = defineError('CONGA_ERR_CLI_DAEMON_STREAM', 'Internal', (message: string) => message);

// --- split deployment: pull queue, transport (owner: split deployment, issue 7)
export const QueueUnavailable = defineError('CONGA_ERR_QUEUE_UNAVAILABLE', 'Unavailable', (redis: string, detail: string) => `the pull queue on Redis ${redis} is unavailable: ${detail}; check that redis-server is running and that daemon.json "redis" points at it`);
export const QueueNoWorkers = defineError('CONGA_ERR_QUEUE_NO_WORKERS', 'Unavailable', (queue: string) => `no image-service worker is consuming the pull queue "${queue}": start conga-image-service with the same "redis" setting`);
export const PlaintextTcpRefused = defineError('CONGA_ERR_RPC_PLAINTEXT_TCP', 'FailedPrecondition', (address: string) => `refusing plaintext gRPC over TCP on ${address}: configure "tls" (ca, cert, key) in daemon.json, or set "allow-insecure-loopback" for a 127.0.0.1 address`);
export const TlsConfigInvalid = defineError('CONGA_ERR_RPC_TLS_INVALID', 'InvalidArgument', (detail: string) => `invalid TLS configuration: ${detail}`);

// --- reliability and security (owner: issue 10)
export const RuntimeVulnerable = defineError('CONGA_ERR_EXECUTOR_RUNTIME_VULNERABLE', 'FailedPrecondition', (binary: string, version: string, detail: string) => `refusing to use OCI runtime ${binary} (${version}): ${detail}. Upgrade runc to 1.1.12 or later (Debian 12: runc 1.1.5+ds1-1+deb12u1 or later), or set CONGA_ALLOW_VULNERABLE_RUNTIME=1 to start anyway at your own risk`);

// --- CRI containers (owner: issue 6, libs/cri container-service)
export const CriContainerNotFound = defineError('CONGA_ERR_CRI_CONTAINER_NOT_FOUND', 'NotFound', (id: string) => `container "${id}" not found: it may have been removed (crictl ps -a lists the containers)`);
export const CriContainerNameReserved = defineError('CONGA_ERR_CRI_CONTAINER_NAME_RESERVED', 'AlreadyExists', (name: string, id: string) => `the container name "${name}" is reserved for ${id}: remove that container first or use another attempt number`);
export const CriPodNotReady = defineError('CONGA_ERR_CRI_POD_NOT_READY', 'FailedPrecondition', (podId: string) => `pod sandbox ${podId} is not ready: containers cannot be created or started in a stopped pod; run a new pod sandbox`);

// --- CRI pods and images (owner: issue 6, libs/cri pod-service, image-service)
export const CriPodNotFound = defineError('CONGA_ERR_CRI_POD_NOT_FOUND', 'NotFound', (id: string) => `pod sandbox "${id}" not found: it may have been removed (crictl pods lists the pods)`);
export const CriPodNameReserved = defineError('CONGA_ERR_CRI_POD_NAME_RESERVED', 'AlreadyExists', (key: string, id: string) => `failed to reserve sandbox name "${key}": name "${key}" is reserved for "${id}"; remove that pod sandbox or use the next attempt number`);
export const CriPodConfigInvalid = defineError('CONGA_ERR_CRI_POD_CONFIG_INVALID', 'InvalidArgument', (detail: string) => `invalid pod sandbox config: ${detail}`);
export const CriSysctlInvalid = defineError('CONGA_ERR_CRI_SYSCTL_INVALID', 'InvalidArgument', (name: string, why: string) => `sysctl "${name}" is not allowed in a pod: ${why}`);
export const CriRuntimeHandlerUnknown = defineError('CONGA_ERR_CRI_RUNTIME_HANDLER_UNKNOWN', 'InvalidArgument', (handler: string, known: string) => `no runtime for "${handler}" is configured (configured handlers: ${known}); add it to daemon.json "cri"."runtime-handlers" or fix the RuntimeClass`);
export const CriSandboxFailed = defineError('CONGA_ERR_CRI_SANDBOX_FAILED', 'Internal', (id: string, step: string, detail: string) => `pod sandbox ${id}: ${step} failed: ${detail}`);

// --- CRI streaming (owner: issue 6, libs/cri/src/streaming)
export const CriStreamProtocol = defineError('CONGA_ERR_CRI_STREAM_PROTOCOL', 'InvalidArgument', (detail: string) => `streaming protocol error: ${detail}`);
export const CriPortForwardFailed = defineError('CONGA_ERR_CRI_PORT_FORWARD_FAILED', 'Unavailable', (pod: string, port: number, detail: string) => `cannot forward port ${port} of pod sandbox ${pod}: ${detail}; check that something listens on 127.0.0.1:${port} inside the pod`);
