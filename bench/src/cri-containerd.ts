/**
 * The `cri` scenario's baseline: a private containerd 1.6 (Debian `containerd`) with its CRI
 * plugin. Everything is its own: root, state, socket, CNI config (a `bridge` on a private
 * bridge, host-local IPAM in a private directory, no masquerade rules), a registry mirror for
 * the local registry over plain HTTP, and a sandbox ("pause") image built from busybox-static
 * that sleeps. Owner: benchmarks (bench/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { until } from './exec';
import { procsMentioning, type Proc } from './proc-memory';
import type { CriTarget } from './cri-scenario';

export function containerdInstalled(): boolean {
  return spawnSync('containerd', ['--version']).status === 0;
}

export class PrivateContainerd implements CriTarget {
  readonly name = 'containerd 1.6 (CRI)';
  readonly dir = mkdtempSync(join(tmpdir(), 'bench-containerd-'));
  readonly socket = join(this.dir, 'containerd.sock');
  private readonly bridge = `cb${randomInt(1 << 20).toString(16)}`;
  private proc?: ChildProcess;

  /** `registry` is "127.0.0.1:PORT"; `sandboxImage` a reference in it. */
  constructor(
    private readonly registry: string,
    private readonly sandboxImage: string,
  ) {}

  async start(): Promise<void> {
    const cni = join(this.dir, 'cni');
    mkdirSync(cni, { recursive: true });
    writeFileSync(
      join(cni, '10-bench.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'bench',
        plugins: [
          {
            type: 'bridge',
            bridge: this.bridge,
            isGateway: true,
            ipMasq: false,
            ipam: { type: 'host-local', ranges: [[{ subnet: `10.${200 + randomInt(50)}.${randomInt(256)}.0/24` }]], dataDir: join(this.dir, 'ipam') },
          },
          { type: 'loopback' },
        ],
      }),
    );
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    writeFileSync(
      join(this.dir, 'config.toml'),
      [
        'version = 2',
        `root = "${join(this.dir, 'root')}"`,
        `state = "${join(this.dir, 'state')}"`,
        '[grpc]',
        `  address = "${this.socket}"`,
        '[ttrpc]',
        `  address = "${this.socket}.ttrpc"`,
        '[metrics]',
        '  address = ""',
        `[${cri}]`,
        `  sandbox_image = "${this.sandboxImage}"`,
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        '  enable_selinux = false',
        // The sandbox asks for oom_score_adj -998, which this host (no CAP_SYS_RESOURCE) refuses.
        '  restrict_oom_score_adj = true',
        `[${cri}.cni]`,
        '  bin_dir = "/usr/lib/cni"',
        `  conf_dir = "${cni}"`,
        `[${cri}.containerd]`,
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        `[${cri}.containerd.runtimes.runc]`,
        '  runtime_type = "io.containerd.runc.v2"',
        `[${cri}.registry.mirrors."${this.registry}"]`,
        `  endpoint = ["http://${this.registry}"]`,
        '',
      ].join('\n'),
    );
    const log = openSync(join(this.dir, 'containerd.log'), 'a');
    this.proc = spawn('containerd', ['--config', join(this.dir, 'config.toml')], { stdio: ['ignore', log, log] });
    await until('containerd', async () => existsSync(this.socket) || this.proc!.exitCode !== null, 30_000);
    if (this.proc.exitCode !== null) throw new Error(`containerd exited: ${readFileSync(join(this.dir, 'containerd.log'), 'utf8').slice(-2000)}`);
  }

  /** containerd (`--config <dir>/…`) and its shims (`-address <dir>/containerd.sock`). */
  planeProcs(): Proc[] {
    return procsMentioning([this.dir]);
  }

  component(p: Proc): string {
    return p.comm;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p && p.exitCode === null) {
      p.kill('SIGTERM');
      await new Promise((r) => (p.exitCode !== null ? r(undefined) : p.once('exit', r)));
    }
    // Shims outlive containerd by design: the pods were removed before, so they are idle.
    for (const s of procsMentioning([this.dir])) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    spawnSync('ip', ['link', 'del', this.bridge]);
    // Snapshot mounts under root (if any pod leaked) must go before the directory.
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(this.dir)).reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
