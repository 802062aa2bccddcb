import { E } from '@conga/common';
import type { HostConfig } from './container-types';

/**
 * HostConfig.LogConfig (docker's --log-driver / --log-opt) checked at create and turned into the
 * executor's rotation limits at start. json-file is written by conmon in k8s-file format (like
 * podman); max-size / max-file rotate it (the executor's log-rotation.ts). Owner: engine.
 */

const DRIVERS = new Set(['json-file', 'k8s-file', 'none']);
/** Options docker's json-file accepts; those besides max-size/max-file are accepted and ignored. */
const FILE_OPTS = new Set(['max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag', 'mode', 'max-buffer-size']);

/** docker's RAMInBytes: "10k", "10kb", "1.5m", "1g", "4096" (binary multiples). */
export function parseLogSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(v.trim());
  if (!m) throw E.InvalidArgument(`invalid max-size "${v}": use a size such as 10k, 20m or 1g`);
  const n = Math.floor(Number(m[1]) * 1024 ** ' kmgtp'.indexOf((m[2] || ' ').toLowerCase()));
  if (!Number.isSafeInteger(n) || n <= 0) throw E.InvalidArgument(`invalid max-size "${v}": it must be more than 0 bytes`);
  return n;
}

/** The rotation limits of `lc` (0 / 1 when none); throws InvalidArgument for bad options. */
export function logLimits(lc: HostConfig['LogConfig'], defaults: Record<string, string> = {}): { maxSize: number; maxFiles: number } {
  const driver = lc?.Type || 'json-file';
  if (!DRIVERS.has(driver)) throw E.InvalidArgument(`unknown log driver "${driver}": use json-file, k8s-file or none`);
  const opts = lc?.Config && Object.keys(lc.Config).length ? lc.Config : driver === 'none' ? {} : defaults;
  for (const k of Object.keys(opts)) {
    if (driver === 'none' || !FILE_OPTS.has(k)) throw E.InvalidArgument(`unknown log opt '${k}' for ${driver} log driver`);
  }
  const maxSize = opts['max-size'] ? parseLogSize(opts['max-size']) : 0;
  let maxFiles = 1;
  if (opts['max-file'] !== undefined) {
    if (!/^\d+$/.test(opts['max-file']) || Number(opts['max-file']) < 1) throw E.InvalidArgument(`invalid max-file "${opts['max-file']}": it must be a whole number of at least 1`);
    maxFiles = Number(opts['max-file']);
    if (maxFiles > 1 && !maxSize) throw E.InvalidArgument('max-file cannot be set when max-size is not set: add --log-opt max-size=SIZE');
  }
  return { maxSize, maxFiles };
}
