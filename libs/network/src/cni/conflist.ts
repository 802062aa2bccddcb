import { E, toCongaError } from '@conga/common';
import { execPlugin } from './exec-plugin';
import type { CniConfList, CniExecOptions, CniPluginConf, CniResult, CniRuntimeConf } from './types';

/** The config one plugin of a list sees: its own keys plus cniVersion, name, prevResult, runtimeConfig. */
export function pluginConfig(list: CniConfList, plugin: CniPluginConf, prevResult: CniResult | undefined, rt: CniRuntimeConf): Record<string, unknown> & { type: string } {
  const conf: Record<string, unknown> & { type: string } = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  if (prevResult) conf.prevResult = prevResult;
  else delete conf.prevResult;
  const caps = plugin.capabilities ?? {};
  const runtimeConfig: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rt.capabilityArgs ?? {})) if (caps[k]) runtimeConfig[k] = v;
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  return conf;
}

/**
 * ADD a whole conflist: plugins in order, each gets the previous one's result. When a plugin
 * fails, the list is DELeted (reverse order, best effort) before the error is rethrown, so a
 * failed ADD leaves nothing behind (no veth, no IP reserved).
 */
export async function addNetworkList(list: CniConfList, rt: CniRuntimeConf, opts: CniExecOptions): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const plugin of list.plugins) {
    try {
      prev = await execPlugin('ADD', pluginConfig(list, plugin, prev, rt), rt, opts);
    } catch (e) {
      await delNetworkList(list, rt, prev, opts).catch(() => undefined);
      throw e;
    }
  }
  if (!prev) throw E.CniFailed(list.name, 'ADD', 'the network configuration has no plugins');
  return prev;
}

/**
 * DEL a whole conflist in reverse order with the cached result as prevResult. Every plugin is
 * called even when one fails (so as much as possible is released); the first failure is thrown.
 */
export async function delNetworkList(list: CniConfList, rt: CniRuntimeConf, cached: CniResult | undefined, opts: CniExecOptions): Promise<void> {
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await execPlugin('DEL', pluginConfig(list, plugin, cached, rt), rt, opts);
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw toCongaError(first);
}

/** CHECK a conflist against the cached result (skipped when the list sets disableCheck). */
export async function checkNetworkList(list: CniConfList, rt: CniRuntimeConf, cached: CniResult, opts: CniExecOptions): Promise<void> {
  if (list.disableCheck) return;
  for (const plugin of list.plugins) await execPlugin('CHECK', pluginConfig(list, plugin, cached, rt), rt, opts);
}
