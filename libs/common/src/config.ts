import { existsSync, readFileSync } from 'node:fs';
import Ajv from 'ajv';
import { E } from './errors';
import type { ServiceName } from './paths';
import type { HostLimits } from './host-limiter';

/**
 * daemon.json, validated once by a JSON schema and frozen. Keys follow dockerd's names where
 * dockerd has them. Unknown keys are refused (a typo should not silently do nothing).
 */
export interface DaemonConfig {
  /**
   * Mirrors tried in order before the registry itself: a list applies to Docker Hub (as in
   * dockerd); an object gives each registry host its own list (`{"docker.io": [...], "quay.io": [...]}`).
   */
  'registry-mirrors': string[] | Record<string, string[]>;
  'insecure-registries': string[];
  'default-runtime': string;
  runtimes: Record<string, { path: string; runtimeArgs?: string[] }>;
  'cni-conf-dir': string;
  'cni-bin-dir': string;
  /** Bridge interface of the default network "conga0" (dockerd's "bridge"). */
  bridge: string;
  /** Subnet the default network allocates container addresses from (dockerd's "fixed-cidr"). */
  'fixed-cidr': string;
  'log-driver': 'json-file' | 'k8s-file' | 'none';
  'log-opts': Record<string, string>;
  'storage-driver': 'overlay2' | 'overlay';
  'cgroup-parent': string;
  'default-ulimits': Record<string, { Name: string; Soft: number; Hard: number }>;
  'max-concurrent-downloads': number;
  /** Redis for split mode's pull queue: a redis:// URL or a unix socket path. */
  redis: string;
  /** Path of the monitor binary (conmon). */
  conmon: string;
  'log-level': 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  /** Group owning the API and service sockets (mode 0660); when it does not exist they stay root:root. */
  group: string;
  /** Split mode: where each service listens and congad connects ("unix:///path" or "tcp://host:port"); default <run>/services/<svc>.sock. */
  'service-addresses': Partial<Record<ServiceName, string>>;
  /** Split mode: PEM files for mutual TLS on TCP service addresses (both sides verify the peer against `ca`). */
  'service-tls'?: { ca: string; cert: string; key: string };
  /** Allow TCP service addresses without TLS, on loopback only (tests, single-node setups). */
  'service-plaintext-tcp': boolean;
  /** Deadline of an ordinary call to a split service, in seconds (pulls, waits and exec are exempt). */
  'service-call-timeout': number;
  /** Per registry host ("host[:port]"): token-bucket rate and a cap on open requests, per image-service process. */
  'registry-rate-limits': Record<string, HostLimits>;
  /** Seconds a layer download may go without receiving a byte before the pull fails. */
  'pull-no-progress-timeout': number;
  /** A download slower than this (bytes/s, averaged over `pull-throughput-window` seconds) fails; 0 turns the rule off. */
  'pull-min-bytes-per-second': number;
  'pull-throughput-window': number;
  /**
   * The CRI front-end (libs/cri): on <run>/cri.sock unless `socket` says otherwise. Pods use the
   * engine network `network` (default: the daemon's default network). `runtime-handlers` maps a
   * RuntimeClass handler to its sandboxer ("" and "runc" are always the runc sandboxer).
   */
  cri: {
    enabled?: boolean;
    socket?: string;
    'streaming-address'?: string;
    'streaming-port'?: number;
    network?: string;
    'runtime-handlers'?: Record<string, { sandboxer: 'runc' }>;
  };
}

export const defaultConfig: Readonly<DaemonConfig> = Object.freeze({
  'registry-mirrors': [],
  'insecure-registries': [],
  'default-runtime': 'runc',
  runtimes: { runc: { path: 'runc' } },
  'cni-conf-dir': '/etc/cni/net.d',
  'cni-bin-dir': '/usr/lib/cni',
  bridge: 'conga0',
  'fixed-cidr': '10.88.0.0/16',
  'log-driver': 'json-file',
  'log-opts': {},
  'storage-driver': 'overlay2',
  'cgroup-parent': '/conga',
  'default-ulimits': {},
  'max-concurrent-downloads': 3,
  redis: '',
  conmon: 'conmon',
  'log-level': 'info',
  group: 'conga',
  'service-addresses': {},
  'service-plaintext-tcp': false,
  'service-call-timeout': 120,
  'registry-rate-limits': {},
  'pull-no-progress-timeout': 30,
  'pull-min-bytes-per-second': 1024,
  'pull-throughput-window': 60,
  cri: { enabled: true },
});

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    'registry-mirrors': {
      anyOf: [
        { type: 'array', items: { type: 'string', pattern: '^https?://[^\\s]+$' } },
        { type: 'object', additionalProperties: { type: 'array', items: { type: 'string', pattern: '^https?://[^\\s]+$' } } },
      ],
    },
    'insecure-registries': { type: 'array', items: { type: 'string', minLength: 1 } },
    'default-runtime': { type: 'string', minLength: 1 },
    runtimes: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['path'],
        additionalProperties: false,
        properties: { path: { type: 'string', minLength: 1 }, runtimeArgs: { type: 'array', items: { type: 'string' } } },
      },
    },
    'cni-conf-dir': { type: 'string', minLength: 1 },
    'cni-bin-dir': { type: 'string', minLength: 1 },
    bridge: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' },
    'fixed-cidr': { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$' },
    'log-driver': { enum: ['json-file', 'k8s-file', 'none'] },
    'log-opts': { type: 'object', additionalProperties: { type: 'string' } },
    'storage-driver': { enum: ['overlay2', 'overlay'] },
    'cgroup-parent': { type: 'string', pattern: '^/[A-Za-z0-9_./-]*$' },
    'default-ulimits': {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['Name', 'Soft', 'Hard'],
        properties: { Name: { type: 'string' }, Soft: { type: 'integer' }, Hard: { type: 'integer' } },
      },
    },
    'max-concurrent-downloads': { type: 'integer', minimum: 1, maximum: 64 },
    redis: { type: 'string' },
    conmon: { type: 'string', minLength: 1 },
    'log-level': { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] },
    group: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,31}$' },
    'service-addresses': {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(['image', 'storage', 'network', 'executor'].map((s) => [s, { type: 'string', pattern: '^(unix|tcp)://.+' }])),
    },
    'service-tls': {
      type: 'object',
      additionalProperties: false,
      required: ['ca', 'cert', 'key'],
      properties: { ca: { type: 'string', minLength: 1 }, cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
    },
    'service-plaintext-tcp': { type: 'boolean' },
    'service-call-timeout': { type: 'number', exclusiveMinimum: 0, maximum: 3600 },
    'pull-no-progress-timeout': { type: 'number', exclusiveMinimum: 0, maximum: 86400 },
    'pull-min-bytes-per-second': { type: 'integer', minimum: 0 },
    'pull-throughput-window': { type: 'number', exclusiveMinimum: 0, maximum: 86400 },
    'registry-rate-limits': {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: {
          'requests-per-second': { type: 'number', exclusiveMinimum: 0 },
          burst: { type: 'integer', minimum: 1 },
          'max-concurrent': { type: 'integer', minimum: 1 },
        },
      },
    },
    cri: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        socket: { type: 'string', pattern: '^/' },
        'streaming-address': { type: 'string', minLength: 1 },
        'streaming-port': { type: 'integer', minimum: 0, maximum: 65535 },
        network: { type: 'string', minLength: 1 },
        'runtime-handlers': {
          type: 'object',
          additionalProperties: { type: 'object', additionalProperties: false, required: ['sandboxer'], properties: { sandboxer: { enum: ['runc'] } } },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true });
const validate = ajv.compile(schema);

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Validate a parsed daemon.json object and merge it over the defaults. */
export function parseConfig(raw: unknown, source = 'daemon.json'): Readonly<DaemonConfig> {
  if (!validate(raw)) {
    const detail = (validate.errors ?? [])
      .map((e) => `${e.instancePath || '(top level)'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` "${e.params.additionalProperty}"` : ''}`)
      .join('; ');
    throw E.InvalidConfig(source, detail);
  }
  const merged = { ...structuredClone(defaultConfig) as DaemonConfig, ...(raw as Partial<DaemonConfig>) };
  return deepFreeze(merged);
}

/** Load daemon.json from a file; a missing file given explicitly is an error. */
export function loadConfig(file?: string): Readonly<DaemonConfig> {
  if (!file) return parseConfig({});
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw E.InvalidConfig(file, `cannot read it: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw E.InvalidConfig(file, `not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(raw, file);
}

/** Read when present and no --config is given (like /etc/docker/daemon.json). */
export const DEFAULT_CONFIG_FILE = '/etc/conga/daemon.json';

/** The daemon's config: the --config file if given (it must exist), else the default file if present. */
export function loadDaemonConfig(file?: string): Readonly<DaemonConfig> {
  return loadConfig(file ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined));
}
