import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { groupId } from '@conga/common';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon, type Mode } from '../harness/daemon';

/**
 * Every socket a Conga process listens on, in both modes, with a container running (so a conmon
 * monitor is among the processes). Sockets come from /proc/net/{unix,tcp,tcp6,udp,udp6} joined
 * with the socket inodes in /proc/<pid>/fd of congad, the split services and conmon.
 *
 * Expected table (RUN = the daemon's run dir, ROOT = its root dir; conga = daemon.json "group"):
 *
 *   socket                               who listens         mode / owner          reachable by
 *   RUN/conga.sock (Engine API)          congad              0660 root:conga       root, group conga
 *   RUN/services/{image,storage,         the split services  0660 root:conga       root, group conga
 *     network,executor}.sock (split)
 *   RUN/cri.sock (CRI gRPC)              congad              0660 root:conga       root, group conga
 *   RUN/cri/grpc.sock (CRI's inner gRPC  congad              no access for others  root
 *     server behind the :authority relay)
 *   RUN/services/<svc>-metrics.sock      congad / services   no access for others  root (and group)
 *   conmon's attach socket, under RUN    conmon              no access for others  root
 *     or ROOT (in a 0700/0750 dir)
 *   abstract unix sockets                nobody              -                     -
 *   127.0.0.1:<ephemeral> TCP            congad              CRI streaming server  local processes only
 *     (daemon.json cri.streaming-address/-port; like containerd's)
 *   any other TCP                        nobody (no tcp:// in "hosts" or "service-addresses")
 *   UDP                                  nobody
 */

const ACCEPTCON = 0x10000;
const TCP_LISTEN = '0A';

function pidsOf(run: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(run);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** socket inode → pid for every socket fd of `pids`. */
function socketInodes(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.set(m[1], pid);
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return out;
}

/** conmon binds through a dir fd ("/proc/self/fd/N/attach"): resolve it to the real path. */
function resolveFdPath(pid: number, path: string): string {
  const m = /^\/proc\/self\/fd\/(\d+)\/(.*)$/.exec(path);
  if (!m) return path;
  try {
    return join(readlinkSync(`/proc/${pid}/fd/${m[1]}`), m[2]);
  } catch {
    return path;
  }
}

interface Listening {
  kind: 'unix' | 'tcp' | 'udp';
  pid: number;
  comm: string;
  address: string;
}

function listening(pids: number[]): Listening[] {
  const inodes = socketInodes(pids);
  const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  const out: Listening[] = [];
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const pid = f.length >= 7 ? inodes.get(f[6]) : undefined;
    if (pid === undefined) continue;
    const path = f[7] ?? '';
    // Abstract sockets are reported whether listening or not: none may exist at all.
    if ((parseInt(f[3], 16) & ACCEPTCON) !== 0 || path.startsWith('@')) out.push({ kind: 'unix', pid, comm: comm(pid), address: resolveFdPath(pid, path) });
  }
  for (const [file, kind] of [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']] as const) {
    if (!existsSync(`/proc/net/${file}`)) continue;
    for (const line of readFileSync(`/proc/net/${file}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const pid = f.length >= 10 ? inodes.get(f[9]) : undefined;
      // Every UDP socket counts; TCP ones only when listening (outgoing registry connections are fine).
      if (pid !== undefined && (kind === 'udp' || f[3] === TCP_LISTEN)) out.push({ kind, pid, comm: comm(pid), address: f[1] });
    }
  }
  return out;
}

for (const mode of ['all-in-one', 'split'] as Mode[]) {
  describe(`listening sockets of Conga processes (${mode})`, () => {
    let reg: TestRegistry;
    let d: Daemon;
    before(async () => {
      reg = await startRegistry();
      const ref = (await pushImage(reg.host, 'lsock/busybox', 'latest', await buildBusyboxImage())).reference;
      d = await startDaemon({ mode });
      const r = await d.cli(['run', '-d', '--name', 'lsock', ref, 'sleep', '60']);
      assert.equal(r.code, 0, r.stderr);
    });
    after(async () => {
      await d?.stop();
      await reg?.stop();
    });

    test('only the expected unix sockets; no abstract or UDP socket; TCP only for CRI streaming on loopback', () => {
      const pids = pidsOf(d.run);
      const comms = new Set(pids.map((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim()));
      assert.ok(comms.has('conmon'), `a conmon is among the processes (${[...comms].join(', ')})`);
      const all = listening(pids);
      const table = all.map((s) => `${s.kind} ${s.comm}[${s.pid}] ${s.address}`).join('\n');
      assert.deepEqual(all.filter((s) => s.kind === 'udp'), [], `no UDP socket:\n${table}`);
      // The one TCP listener is the CRI streaming server, on loopback only.
      const tcp = all.filter((s) => s.kind === 'tcp');
      assert.ok(tcp.length <= 1 && tcp.every((s) => s.address.startsWith('0100007F:') && s.comm !== 'conmon'), `TCP only for CRI streaming on 127.0.0.1:\n${table}`);
      assert.deepEqual(all.filter((s) => s.address.startsWith('@') || s.address === ''), [], `no abstract or unnamed listener:\n${table}`);

      const gid = groupId('conga') ?? 0;
      const api = new Set([join(d.run, 'conga.sock'), join(d.run, 'cri.sock')]);
      if (mode === 'split') for (const s of ['image', 'storage', 'network', 'executor']) api.add(join(d.run, 'services', `${s}.sock`));
      const seen = new Set(all.map((s) => s.address));
      for (const p of api) assert.ok(seen.has(p), `${p} is listening:\n${table}`);
      for (const s of all.filter((x) => x.kind === 'unix')) {
        const p = s.address;
        if (p.startsWith('/proc/self/fd/')) continue; // bound through a dir fd closed since: still a file
        if (api.has(p)) {
          const st = statSync(p);
          assert.equal(st.mode & 0o777, 0o660, `${p} mode ${(st.mode & 0o777).toString(8)}`);
          assert.deepEqual([st.uid, st.gid], [0, gid], `${p} is root:conga`);
          continue;
        }
        const metrics = (p.startsWith(join(d.run, 'services') + '/') && p.endsWith('-metrics.sock')) || p === join(d.run, 'cri', 'grpc.sock');
        const attach = s.comm === 'conmon' && (p.startsWith(d.run + '/') || p.startsWith(d.root + '/'));
        assert.ok(metrics || attach, `unexpected listening socket ${s.comm}[${s.pid}] ${p}:\n${table}`);
        if (!existsSync(p)) continue; // conmon may unlink the path after binding
        const st = statSync(p);
        const dir = statSync(dirname(p));
        // Private sockets: others can reach neither the socket nor (for conmon) its directory.
        assert.equal(st.mode & 0o007, 0, `${p} mode ${(st.mode & 0o777).toString(8)} lets others connect`);
        if (attach) assert.equal(dir.mode & 0o007, 0, `${dirname(p)} mode ${(dir.mode & 0o777).toString(8)} lets others in`);
        assert.equal(st.uid, 0, `${p} owner`);
      }
    });
  });
}
