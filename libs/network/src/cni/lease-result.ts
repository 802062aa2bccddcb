import { readFile, readdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { containsHost, parseCidr4, parseIp4 } from '../subnet';
import type { CniConfList, CniResult } from './types';

/** host-local's data dir when a conflist does not set one. */
const HOST_LOCAL_DEFAULT_DIR = '/var/lib/cni/networks';

interface HostLocalIpam {
  type: 'host-local';
  dataDir?: string;
  subnet?: string;
  ranges?: { subnet?: string; gateway?: string }[][];
}

function hostLocalOf(list: CniConfList): HostLocalIpam | undefined {
  for (const p of list.plugins) {
    const ipam = p.ipam as HostLocalIpam | undefined;
    if (ipam?.type === 'host-local') return ipam;
  }
  return undefined;
}

/**
 * The result an ADD would have returned, rebuilt from host-local's lease files (`<dataDir>/
 * <network>/<ip>`, holding "<containerId>\r\n<ifName>"). DEL needs it as prevResult when ADD was
 * interrupted before its result was cached: without it the firewall plugin cannot find the
 * per-address rules it made. Undefined when the list has no host-local IPAM or no lease matches.
 */
export async function resultFromLeases(list: CniConfList, containerId: string, ifName: string, netns: string): Promise<CniResult | undefined> {
  const ipam = hostLocalOf(list);
  if (!ipam) return undefined;
  const dir = join(ipam.dataDir || HOST_LOCAL_DEFAULT_DIR, list.name);
  const ranges = [...(ipam.ranges ?? []).flat(), ...(ipam.subnet ? [{ subnet: ipam.subnet }] : [])];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  const ips: NonNullable<CniResult['ips']> = [];
  for (const name of names) {
    if (isIP(name) !== 4) continue; // last_reserved_ip.*, lock
    const [owner, itf] = (await readFile(join(dir, name), 'utf8').catch(() => '')).split(/\r?\n/).map((s) => s.trim());
    if (owner !== containerId || (itf && itf !== ifName)) continue;
    const ip = parseIp4(name)!;
    const range = ranges.find((r) => {
      try {
        return !!r.subnet && containsHost(parseCidr4(r.subnet), ip);
      } catch {
        return false;
      }
    });
    const prefix = range?.subnet ? range.subnet.split('/')[1] : '32';
    ips.push({ address: `${name}/${prefix}`, ...(range?.gateway ? { gateway: range.gateway } : {}), interface: 0 });
  }
  if (ips.length === 0) return undefined;
  return { cniVersion: list.cniVersion, interfaces: [{ name: ifName, sandbox: netns }], ips };
}
