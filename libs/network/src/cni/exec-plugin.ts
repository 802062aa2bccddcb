import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { E } from '@conga/common';
import { runCommand } from '../util/run-command';
import type { CniCommand, CniErrorObject, CniExecOptions, CniResult, CniRuntimeConf } from './types';

const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Find a plugin binary in the bin dirs; throws E.CniFailed naming the plugin when absent. */
export async function findPlugin(type: string, command: CniCommand, opts: CniExecOptions): Promise<string> {
  if (!PLUGIN_TYPE.test(type)) throw E.CniFailed(type, command, `"${type}" is not a valid plugin type name`);
  for (const dir of opts.binDirs) {
    const p = join(dir, type);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // try the next dir
    }
  }
  throw E.CniFailed(type, command, `plugin binary "${type}" not found in ${opts.binDirs.join(':')}; install it or fix the network configuration`);
}

function cniArgs(rt: CniRuntimeConf): string {
  return (rt.args ?? []).map(([k, v]) => `${k}=${v}`).join(';');
}

function describeFailure(stdout: string, stderr: string, code: number | null, signal: string | null): string {
  const text = stdout.trim();
  if (text) {
    try {
      const obj = JSON.parse(text) as Partial<CniErrorObject>;
      if (typeof obj.msg === 'string') {
        return `${obj.msg}${obj.details ? `: ${obj.details}` : ''} (CNI error code ${obj.code ?? '?'})`;
      }
    } catch {
      // not JSON: fall through
    }
  }
  const err = stderr.trim() || text;
  const status = signal ? `killed by ${signal}` : `exit status ${code}`;
  return err ? `${err.slice(0, 2000)} (${status})` : status;
}

/**
 * Run one CNI plugin (spec 1.0): CNI_* environment, the plugin's full config (already carrying
 * cniVersion, name and prevResult) as JSON on stdin. Returns the parsed result for ADD and
 * VERSION, undefined for DEL/CHECK. Failures, including the plugin's own error object and a
 * timeout, become E.CniFailed naming the plugin.
 */
export async function execPlugin(
  command: CniCommand,
  conf: Record<string, unknown> & { type: string },
  rt: CniRuntimeConf,
  opts: CniExecOptions,
): Promise<CniResult | undefined> {
  const bin = await findPlugin(conf.type, command, opts);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifName,
    CNI_PATH: opts.binDirs.join(':'),
    CNI_ARGS: cniArgs(rt),
  };
  let r;
  try {
    r = await runCommand(bin, [], { input: JSON.stringify(conf), env, timeoutMs: opts.timeoutMs });
  } catch (e) {
    throw E.CniFailed(conf.type, command, `cannot run ${bin}: ${(e as Error).message}`);
  }
  if (r.timedOut) throw E.CniFailed(conf.type, command, `no answer within ${Math.round(opts.timeoutMs / 1000)} s; the plugin was killed`);
  if (r.code !== 0) throw E.CniFailed(conf.type, command, describeFailure(r.stdout, r.stderr, r.code, r.signal));
  if (command === 'DEL' || command === 'CHECK') return undefined;
  try {
    const res = JSON.parse(r.stdout) as CniResult;
    if (!res || typeof res !== 'object') throw new Error('not an object');
    return res;
  } catch (e) {
    throw E.CniFailed(conf.type, command, `unreadable result on stdout (${(e as Error).message}): ${r.stdout.slice(0, 200)}`);
  }
}
