import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { newContext, silentLogger } from '@conga/common';
import { createNetworkService, type LocalNetworkService } from './service';
import type { NetworkServiceOptions } from './options';
import { runCommand } from './util/run-command';

/** Dirs and default-network settings private to one test (own bridge, own /24). */
export interface TestEnv {
  root: string;
  opts: NetworkServiceOptions;
  bridge: string;
  subnet: string;
  /** Start a service over this env's dirs (call again to simulate a restart). */
  start(extra?: Partial<NetworkServiceOptions>): Promise<LocalNetworkService>;
  /** Detach everything, release the netns dir, delete the bridge and firewall chains we made, remove dirs. */
  cleanup(): Promise<void>;
}

async function chainExists(table: string, chain: string): Promise<boolean> {
  const r = await runCommand('iptables', ['-w', '-t', table, '-S', chain]).catch(() => undefined);
  return r?.code === 0;
}

/** Build a test env; the bridge name and subnet are random so tests never collide with congad. */
export async function makeTestEnv(): Promise<TestEnv> {
  const root = await mkdtemp(join(tmpdir(), 'conga-net-'));
  const bridge = `cgt${randomBytes(4).toString('hex')}`;
  const subnet = `10.${randomInt(150, 250)}.${randomInt(0, 255)}.0/24`;
  const opts: NetworkServiceOptions = {
    dir: join(root, 'lib'),
    runDir: join(root, 'run'),
    log: silentLogger(),
    defaultNetwork: { bridge, subnet },
    hostResolvConf: '/etc/resolv.conf',
  };
  const hadFirewallChains = await chainExists('filter', 'CNI-FORWARD');
  const hadPortmapChains = await chainExists('nat', 'CNI-HOSTPORT-DNAT');
  const started: LocalNetworkService[] = [];
  return {
    root,
    opts,
    bridge,
    subnet,
    async start(extra = {}) {
      const s = await createNetworkService({ ...opts, ...extra });
      started.push(s);
      return s;
    },
    async cleanup() {
      const s = started.at(-1) ?? (await createNetworkService(opts));
      for (const a of (await s.listAttachments({}, newContext())).attachments) await s.detach({ containerId: a.containerId }, newContext()).catch(() => undefined);
      for (const x of started) await x.close();
      await s.netns.release().catch(() => undefined);
      await runCommand('ip', ['link', 'del', bridge]).catch(() => undefined);
      if (!hadFirewallChains && (await chainExists('filter', 'CNI-FORWARD'))) {
        // Concurrent ADDs may have inserted the jump more than once.
        for (let i = 0; i < 16; i++) {
          const r = await runCommand('iptables', ['-w', '-D', 'FORWARD', '-m', 'comment', '--comment', 'CNI firewall plugin rules', '-j', 'CNI-FORWARD']).catch(() => undefined);
          if (r?.code !== 0) break;
        }
        for (const c of ['CNI-FORWARD', 'CNI-ADMIN']) {
          await runCommand('iptables', ['-w', '-F', c]).catch(() => undefined);
          await runCommand('iptables', ['-w', '-X', c]).catch(() => undefined);
        }
      }
      if (!hadPortmapChains) await removePortmapChains();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Remove portmap's shared nat chains and their jumps once no container rule is left in them
 * (another test's containers may still use them).
 */
export async function removePortmapChains(): Promise<void> {
  const dnat = await runCommand('iptables', ['-w', '-t', 'nat', '-S', 'CNI-HOSTPORT-DNAT']).catch(() => undefined);
  if (dnat?.code !== 0 || dnat.stdout.split('\n').some((l) => l.startsWith('-A '))) return;
  const jumps: [string, string[]][] = [
    ['PREROUTING', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']],
    ['OUTPUT', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']],
    ['POSTROUTING', ['-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', 'CNI-HOSTPORT-MASQ']],
  ];
  for (const [chain, rule] of jumps) {
    for (let i = 0; i < 16; i++) {
      const r = await runCommand('iptables', ['-w', '-t', 'nat', '-D', chain, ...rule]).catch(() => undefined);
      if (r?.code !== 0) break;
    }
  }
  for (const c of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']) {
    await runCommand('iptables', ['-w', '-t', 'nat', '-F', c]).catch(() => undefined);
    await runCommand('iptables', ['-w', '-t', 'nat', '-X', c]).catch(() => undefined);
  }
}
