import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { groupId } from '@conga/common';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/**
 * CVE-2020-15257 (containerd-shim's abstract socket reachable from host-network containers):
 * every unix socket a Conga process (congad, the split services, conmon) listens on is a file
 * under the run dir with mode 0660 and group "conga" (daemon.json "group") or root — never an
 * abstract socket.
 */

const ACCEPTCON = 0x10000;

/** pids whose command line mentions `run` (congad, the services, conmon monitors of this daemon). */
function pidsOf(run: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(run)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** conmon binds through a dir fd ("/proc/self/fd/N/attach", for long paths): resolve it (still a file). */
function resolveFdPath(pid: number, path: string): string {
  const m = /^\/proc\/self\/fd\/(\d+)\/(.*)$/.exec(path);
  if (!m) return path;
  try {
    return join(readlinkSync(`/proc/${pid}/fd/${m[1]}`), m[2]);
  } catch {
    return path; // the dir fd was closed after bind: the path is still a file, not abstract
  }
}

/** Unix sockets held by `pids`: inode → { path, listening }. */
function unixSockets(pids: number[]): Array<{ pid: number; path: string; listening: boolean }> {
  const table = new Map<string, { path: string; flags: number }>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    table.set(f[6], { path: f[7] ?? '', flags: parseInt(f[3], 16) });
  }
  const out: Array<{ pid: number; path: string; listening: boolean }> = [];
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      const s = m && table.get(m[1]);
      if (s) out.push({ pid, path: resolveFdPath(pid, s.path), listening: (s.flags & ACCEPTCON) !== 0 });
    }
  }
  return out;
}

describe('CVE-2020-15257: sockets are 0660 files, never abstract (split mode, with a container running)', () => {
  let reg: TestRegistry;
  let d: Daemon;
  before(async () => {
    reg = await startRegistry();
    const ref = (await pushImage(reg.host, 'sock/busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'split' });
    const r = await d.cli(['run', '-d', '--name', 'sockcheck', ref, 'sleep', '60']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test('no abstract socket; every listening socket is a 0660 file under the run dir', () => {
    const pids = pidsOf(d.run);
    assert.ok(pids.length >= 6, `congad, four services and a conmon expected, found ${pids.length} processes`);
    const socks = unixSockets(pids);
    const abstract = socks.filter((s) => s.path.startsWith('@'));
    assert.deepEqual(abstract, [], 'abstract unix sockets are reachable from any process in the host network namespace');
    const listening = socks.filter((s) => s.listening);
    const paths = new Set(listening.map((s) => s.path));
    for (const want of ['conga.sock', 'services/image.sock', 'services/storage.sock', 'services/network.sock', 'services/executor.sock']) {
      assert.ok(paths.has(join(d.run, want)), `${want} is listening (have ${[...paths].join(', ')})`);
    }
    const gid = groupId('conga') ?? 0;
    for (const p of paths) {
      if (p.startsWith('/proc/self/fd/')) continue; // a file bound through a dir fd that is closed now
      assert.ok(p.startsWith(d.run + '/') || p.startsWith(d.root + '/'), `listening socket ${p} is under the daemon's run or root dir`);
      if (!existsSync(p)) continue; // conmon may unlink its attach socket path after binding
      const st = statSync(p);
      assert.ok(st.isSocket(), p);
      if (p === join(d.run, 'conga.sock') || p.startsWith(join(d.run, 'services') + '/')) {
        assert.equal(st.mode & 0o777, 0o660, `${p} mode ${(st.mode & 0o777).toString(8)}`);
        assert.equal(st.uid, 0, `${p} owner`);
        assert.equal(st.gid, gid, `${p} group`);
      } else {
        assert.equal(st.mode & 0o007, 0, `${p} is not reachable by other users (mode ${(st.mode & 0o777).toString(8)})`);
      }
    }
  });
});

describe('socket group from daemon.json', () => {
  test('an existing group owns the socket; a missing one leaves root:root 0660 and says so', async (t) => {
    const withGroup = await startDaemon({ config: { group: 'daemon' } });
    t.after(() => withGroup.stop());
    const st = statSync(withGroup.socket);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, groupId('daemon'));
    const missing = await startDaemon({ config: { group: 'no-such-grp-x' } });
    t.after(() => missing.stop());
    const st2 = statSync(missing.socket);
    assert.equal(st2.mode & 0o777, 0o660);
    assert.equal(st2.gid, 0);
    const log = readFileSync(join(missing.root, '..', 'congad.log'), 'utf8');
    assert.match(log, /group \\?"no-such-grp-x\\?" does not exist/);
    const bad = await startDaemon({ config: { group: 'bad group!' } }).then(
      (x) => x.stop().then(() => 'started'),
      (e: Error) => e.message,
    );
    assert.match(bad, /group/, 'an invalid group name is refused at start');
  });
});
