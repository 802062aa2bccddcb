import { existsSync, readFileSync } from 'node:fs';
import Ajv from 'ajv';
import { E } from './errors';

/**
 * daemon.json, validated once by a JSON schema and frozen. Keys follow dockerd's names where
 * dockerd has them. Unknown keys are refused (a typo should not silently do nothing).
 */
export interface DaemonConfig {
  'registry-mirrors': string[];
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
});

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    'registry-mirrors': { type: 'array', items: { type: 'string', minLength: 1 } },
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
