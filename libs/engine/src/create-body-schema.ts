import Ajv, { type ErrorObject } from 'ajv';
import { E } from '@conga/common';

/**
 * The JSON types of `POST /containers/create` bodies, checked before anything else looks at
 * them: a client that sends `"Binds": 0` or `"Env": {"A": 1}` gets a 400 naming the field and
 * the type it should have, never a crash deep in the engine. Only types are checked here; the
 * values' meaning (paths, limits, policies) is validated by host-config.ts. Unknown fields are
 * allowed, as dockerd allows them (newer clients send fields older daemons do not know).
 */

const str = { type: ['string', 'null'] } as const;
const bool = { type: ['boolean', 'null'] } as const;
const num = { type: ['number', 'null'] } as const;
const strArray = { type: ['array', 'null'], items: { type: 'string' } } as const;
const strMap = { type: ['object', 'null'], additionalProperties: { type: 'string' } } as const;
const anyObject = { type: ['object', 'null'] } as const;

const healthcheck = {
  type: ['object', 'null'],
  properties: { Test: strArray, Interval: num, Timeout: num, StartPeriod: num, StartInterval: num, Retries: num },
} as const;

const hostConfig = {
  type: ['object', 'null'],
  properties: {
    AutoRemove: bool,
    NetworkMode: str,
    RestartPolicy: { type: ['object', 'null'], properties: { Name: str, MaximumRetryCount: num } },
    LogConfig: { type: ['object', 'null'], properties: { Type: str, Config: strMap } },
    Dns: strArray,
    DnsSearch: strArray,
    DnsOptions: strArray,
    ExtraHosts: strArray,
    Privileged: bool,
    ReadonlyRootfs: bool,
    PublishAllPorts: bool,
    CapAdd: strArray,
    CapDrop: strArray,
    Binds: strArray,
    Links: strArray,
    VolumesFrom: strArray,
    GroupAdd: strArray,
    Mounts: {
      type: ['array', 'null'],
      items: {
        type: 'object',
        properties: {
          Type: str,
          Source: str,
          Target: str,
          ReadOnly: bool,
          BindOptions: { type: ['object', 'null'], properties: { Propagation: str } },
          TmpfsOptions: { type: ['object', 'null'], properties: { SizeBytes: num, Mode: num } },
          VolumeOptions: { type: ['object', 'null'], properties: { NoCopy: bool, Labels: strMap } },
        },
      },
    },
    Tmpfs: strMap,
    Memory: num,
    MemorySwap: num,
    MemoryReservation: num,
    NanoCpus: num,
    CpuShares: num,
    CpuQuota: num,
    CpuPeriod: num,
    CpusetCpus: str,
    CpusetMems: str,
    PidsLimit: num,
    BlkioWeight: num,
    OomScoreAdj: num,
    Ulimits: { type: ['array', 'null'], items: { type: 'object', properties: { Name: str, Soft: num, Hard: num } } },
    SecurityOpt: strArray,
    MaskedPaths: strArray,
    ReadonlyPaths: strArray,
    Devices: {
      type: ['array', 'null'],
      items: { type: 'object', properties: { PathOnHost: str, PathInContainer: str, CgroupPermissions: str } },
    },
    Sysctls: strMap,
    Init: bool,
    Runtime: str,
    PortBindings: {
      type: ['object', 'null'],
      additionalProperties: {
        type: ['array', 'null'],
        items: { type: ['object', 'null'], properties: { HostIp: str, HostPort: str } },
      },
    },
    SystemContainer: bool,
  },
} as const;

const createBody = {
  type: 'object',
  properties: {
    Image: str,
    // docker's strslice: a single string is one argument.
    Cmd: { type: ['array', 'string', 'null'], items: { type: 'string' } },
    Entrypoint: { type: ['array', 'string', 'null'], items: { type: 'string' } },
    Env: strArray,
    WorkingDir: str,
    User: str,
    Hostname: str,
    Domainname: str,
    Labels: strMap,
    Tty: bool,
    OpenStdin: bool,
    StdinOnce: bool,
    AttachStdin: bool,
    AttachStdout: bool,
    AttachStderr: bool,
    StopSignal: str,
    StopTimeout: num,
    NetworkDisabled: bool,
    Healthcheck: healthcheck,
    Volumes: anyObject,
    ExposedPorts: anyObject,
    HostConfig: hostConfig,
    NetworkingConfig: {
      type: ['object', 'null'],
      properties: {
        EndpointsConfig: {
          type: ['object', 'null'],
          additionalProperties: {
            type: ['object', 'null'],
            properties: { Aliases: strArray, Links: strArray, IPAMConfig: anyObject },
          },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: false });
const validate = ajv.compile(createBody);

function describe(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'the body';
  if (e.keyword === 'type') {
    const want = String((e.params as { type: string | string[] }).type).split(',').filter((t) => t !== 'null');
    return `${where} must be ${want.map((t) => (t === 'array' ? 'an array' : t === 'object' ? 'an object' : `a ${t}`)).join(' or ')}`;
  }
  return `${where} ${e.message ?? 'is invalid'}`;
}

/**
 * Throw InvalidArgument when a field of a create body has the wrong JSON type. A string
 * Cmd/Entrypoint becomes a one-element array, as dockerd reads it.
 */
export function checkCreateBodyTypes(body: unknown): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw E.InvalidArgument('the container config must be a JSON object with at least "Image"');
  }
  if (!validate(body)) {
    const first = validate.errors?.[0];
    throw E.InvalidArgument(`invalid container config: ${first ? describe(first) : 'wrong field types'}`);
  }
  const b = body as { Cmd?: unknown; Entrypoint?: unknown };
  for (const k of ['Cmd', 'Entrypoint'] as const) if (typeof b[k] === 'string') b[k] = [b[k]];
}
