import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceName } from '@conga/common';
import { mountsUnder, runcList, type Daemon } from '../harness/daemon';

/**
 * The fault-injection workload shared by test/faults and `npm run soak`: workers churn
 * containers (create → start → stop → rm) through the Engine API while a killer SIGKILLs a
 * random engine process (congad; in split mode also any of the four services) every few
 * seconds and starts it again. Then {@link checkConsistency} compares ps, runc, conmon,
 * mounts, netns pins, cgroups and the state directories.
 */

export interface ChurnOptions {
  d: Daemon;
  image: string;
  /** Concurrent workers, each cycling one container at a time. */
  workers: number;
  durationMs: number;
  /** Kill interval bounds (ms). */
  killEveryMs?: [number, number];
  /** Long-running containers started first; they must survive every kill with the same pid. */
  standing?: number;
  log?: (line: string) => void;
}

export interface ChurnStats {
  cycles: number;
  ops: number;
  failedOps: number;
  /** Failed operations by "METHOD route status: message" (the top ones tell what faults did). */
  failures: Record<string, number>;
  faults: number;
  faultsBy: Record<string, number>;
  /** Every container id the workers saw created. */
  ids: Set<string>;
  standing: Array<{ id: string; pid: number }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rnd = (a: number, b: number) => a + Math.floor(Math.random() * (b - a + 1));

/** One API call that never throws: status 0 when the engine could not be reached. */
async function call(d: Daemon, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  try {
    return await d.api(method, path, body);
  } catch (e) {
    return { status: 0, body: { message: (e as Error).message } };
  }
}

/** Run the churn with faults for `durationMs`; returns when all processes are up again. */
export async function churnWithFaults(o: ChurnOptions): Promise<ChurnStats> {
  const { d, image } = o;
  const log = o.log ?? (() => {});
  const stats: ChurnStats = { cycles: 0, ops: 0, failedOps: 0, failures: {}, faults: 0, faultsBy: {}, ids: new Set(), standing: [] };
  for (let i = 0; i < (o.standing ?? 0); i++) {
    const c = await call(d, 'POST', `/containers/create?name=standing-${i}`, { Image: image, Cmd: ['sleep', '100000'], HostConfig: { NetworkMode: i % 2 ? 'none' : 'default' } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.equal((await call(d, 'POST', `/containers/${c.body.Id}/start`)).status, 204);
    const ins = await call(d, 'GET', `/containers/${c.body.Id}/json`);
    stats.standing.push({ id: c.body.Id, pid: ins.body.State.Pid });
    stats.ids.add(c.body.Id);
  }
  const end = Date.now() + o.durationMs;
  let stopping = false;

  const op = async (method: string, path: string, body: unknown, ok: number[]) => {
    stats.ops++;
    const r = await call(d, method, path, body);
    if (!ok.includes(r.status)) {
      stats.failedOps++;
      const key = `${method} ${path.replace(/\/containers\/(?!create)[^/?]+/, '/containers/{id}').replace(/\?.*$/, '')} ${r.status}: ${String(r.body?.message ?? r.body).replace(/[a-f0-9]{12,}/g, '…').replace(/churn-\d+-\d+/g, 'churn-…').slice(0, 120)}`;
      stats.failures[key] = (stats.failures[key] ?? 0) + 1;
    }
    return r;
  };

  const worker = async (w: number) => {
    for (let i = 0; !stopping; i++) {
      const name = `churn-${w}-${i}`;
      const c = await op('POST', `/containers/create?name=${name}`, { Image: image, Cmd: ['sleep', '300'], HostConfig: { NetworkMode: w % 2 ? 'none' : 'default' } }, [201]);
      const id: string | undefined = c.status === 201 ? c.body.Id : undefined;
      if (!id) await sleep(200); // the engine or a service is down: do not spin
      if (id) stats.ids.add(id);
      const ref = id ?? name;
      await op('POST', `/containers/${ref}/start`, undefined, [204]);
      await op('POST', `/containers/${ref}/stop?t=0`, undefined, [204, 304]);
      let removed = false;
      for (let tries = 0; tries < 20 && !removed; tries++) {
        const r = await op('DELETE', `/containers/${ref}?force=1`, undefined, [204, 404]);
        removed = r.status === 204 || r.status === 404;
        if (!removed) await sleep(250);
      }
      stats.cycles++;
    }
  };

  const targets: string[] = d.mode === 'split' ? ['congad', 'image', 'storage', 'network', 'executor'] : ['congad'];
  const killer = async () => {
    const [lo, hi] = o.killEveryMs ?? [2000, 5000];
    while (Date.now() < end) {
      await sleep(rnd(lo, hi));
      if (Date.now() >= end) break;
      const t = targets[rnd(0, targets.length - 1)];
      stats.faults++;
      stats.faultsBy[t] = (stats.faultsBy[t] ?? 0) + 1;
      log(`fault ${stats.faults}: SIGKILL ${t}`);
      if (t === 'congad') await d.killEngine();
      else await d.killService(t as ServiceName);
      await sleep(rnd(100, 1500));
      if (t === 'congad') await d.startEngine();
      else await d.startService(t as ServiceName);
    }
  };

  const workers = Array.from({ length: o.workers }, (_, w) => worker(w));
  await killer();
  stopping = true;
  await Promise.all(workers);
  // Let the restarted processes finish their recovery before anyone looks.
  for (let i = 0; i < 100; i++) {
    if ((await call(d, 'GET', '/containers/json?all=1')).status === 200) break;
    await sleep(200);
  }
  await sleep(1500);
  return stats;
}

/** Processes whose command line names `dir` and that are conmon monitors: container id → pid. */
export function monitors(run: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith('conmon') || !argv.some((a) => a.includes(run))) continue;
    const i = argv.indexOf('-c');
    if (i !== -1) out.set(argv[i + 1], Number(p));
  }
  return out;
}

/** Container ids that still have a cgroup directory under /conga in any v1 (or the v2) hierarchy. */
export function cgroupsOf(ids: Iterable<string>): string[] {
  const roots = existsSync('/sys/fs/cgroup/cgroup.controllers') ? ['/sys/fs/cgroup'] : readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c));
  const out: string[] = [];
  for (const id of ids) {
    for (const r of roots) {
      if (existsSync(join(r, 'conga', id))) {
        out.push(`${join(r, 'conga', id)}`);
      }
    }
  }
  return out;
}

const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : []);

/**
 * Everything agrees: every container in ps can be inspected and has its state dir and rootfs;
 * running ⇔ runc running; no runc task, monitor, overlay mount, netns pin or cgroup without a
 * live container; no state dir without a container.
 */
export async function checkConsistency(d: Daemon, ids: Set<string>): Promise<{ containers: number; running: number }> {
  const ps = await d.api('GET', '/containers/json?all=1');
  assert.equal(ps.status, 200);
  const list = ps.body as Array<{ Id: string; State: string; Names: string[] }>;
  const byId = new Map(list.map((c) => [c.Id, c]));
  const runc = new Map(runcList(join(d.run, 'executor', 'runc')).map((c) => [c.id, c]));
  const live = new Set<string>();
  for (const c of list) {
    const ins = await d.api('GET', `/containers/${c.Id}/json`);
    assert.equal(ins.status, 200, `ps lists ${c.Id} (${c.Names}) but inspect says ${ins.status}`);
    const running = ins.body.State.Running === true;
    const r = runc.get(c.Id);
    if (running) {
      live.add(c.Id);
      assert.ok(r && (r.status === 'running' || r.status === 'paused'), `${c.Names} is running in ps but runc says ${r?.status ?? 'nothing'}`);
    } else {
      assert.ok(!r || r.status === 'stopped', `${c.Names} is ${c.State} in ps but runc says ${r?.status}`);
    }
    assert.ok(existsSync(join(d.root, 'engine', 'containers', c.Id)), `${c.Names}: state dir missing`);
    assert.ok(existsSync(join(d.root, 'storage', 'rootfs', c.Id)), `${c.Names}: rootfs missing (record points at nothing)`);
  }
  for (const [id, r] of runc) assert.ok(byId.has(id), `runc task ${id} (${r.status}) belongs to no container: leaked`);
  for (const [id, pid] of monitors(d.run)) assert.ok(live.has(id), `conmon ${pid} for ${id} outlived its container: leaked`);
  for (const m of mountsUnder(d.root)) {
    const id = /rootfs\/([a-f0-9]{64})\/merged$/.exec(m)?.[1];
    assert.ok(id && live.has(id), `mount ${m} belongs to no running container: leaked`);
  }
  for (const id of ls(join(d.run, 'network', 'netns'))) assert.ok(live.has(id), `netns pin ${id} belongs to no running container: leaked`);
  const deadIds = [...ids].filter((id) => !live.has(id));
  assert.deepEqual(cgroupsOf(deadIds), [], 'cgroups of containers that are not running: leaked');
  for (const id of ls(join(d.root, 'engine', 'containers'))) assert.ok(byId.has(id), `engine state dir ${id} belongs to no container: leaked`);
  for (const id of ls(join(d.root, 'storage', 'rootfs'))) assert.ok(byId.has(id), `rootfs ${id} belongs to no container: leaked`);
  return { containers: list.length, running: live.size };
}

/** Remove every container, then nothing of them may remain anywhere. */
export async function removeAllAndCheckEmpty(d: Daemon, ids: Set<string>): Promise<void> {
  const ps = await d.api('GET', '/containers/json?all=1');
  for (const c of ps.body as Array<{ Id: string }>) {
    const r = await d.api('DELETE', `/containers/${c.Id}?force=1`);
    assert.ok(r.status === 204 || r.status === 404, `rm -f ${c.Id}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).body, []);
  assert.deepEqual(runcList(join(d.run, 'executor', 'runc')), [], 'runc tasks left');
  assert.deepEqual([...monitors(d.run).keys()], [], 'monitors left');
  assert.deepEqual(mountsUnder(d.root), [], 'mounts left under root');
  assert.deepEqual(ls(join(d.run, 'network', 'netns')), [], 'netns pins left');
  assert.deepEqual(cgroupsOf(ids), [], 'cgroups left');
  assert.deepEqual(ls(join(d.root, 'engine', 'containers')), [], 'engine state dirs left');
  assert.deepEqual(ls(join(d.root, 'storage', 'rootfs')), [], 'rootfs dirs left');
}
