import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/** Collect a stream's bytes as text. */
function collect(s: NodeJS.ReadableStream): { text: () => string; done: Promise<void> } {
  let text = '';
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (c: Buffer) => (text += c.toString('utf8')));
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  return { text: () => text, done };
}

/** Split a multiplexed stream into stdout and stderr text with docker-modem's demuxer. */
function demux(docker: Docker, stream: NodeJS.ReadableStream): { out: () => string; err: () => string; done: Promise<void> } {
  const out = new PassThrough();
  const err = new PassThrough();
  const o = collect(out);
  const e = collect(err);
  docker.modem.demuxStream(stream, out, err);
  const done = new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', reject);
  });
  return { out: o.text, err: e.text, done };
}

/**
 * dockerode (from npm) against congad: the calls its users make, each asserting what dockerd
 * answers. The image comes from the local test registry.
 */
describe('dockerode against congad', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let docker: Docker;
  let ref: string;

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'dr/busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    docker = new Docker({ socketPath: d.socket });
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test('pull with followProgress', async () => {
    const stream = await docker.pull(ref);
    const seen: Array<{ status?: string; progressDetail?: { current?: number; total?: number } }> = [];
    const output = await new Promise<unknown[]>((resolve, reject) =>
      docker.modem.followProgress(stream, (err, out) => (err ? reject(err) : resolve(out)), (ev) => seen.push(ev)),
    );
    assert.ok(output.length > 0);
    assert.ok(seen.some((e) => (e.progressDetail?.total ?? 0) > 0), `no byte progress in ${JSON.stringify(seen)}`);
    assert.match(String(seen[seen.length - 1].status), /^Status: (Downloaded newer image|Image is up to date) for /);
    const img = await docker.getImage(ref).inspect();
    assert.match(img.Id, /^sha256:[a-f0-9]{64}$/);
  });

  test('a pull of a missing image reports the registry error', async () => {
    // dockerd answers 404 when nothing was streamed yet, else an error line in the stream.
    const stream = await docker.pull(`${reg.host}/dr/missing:latest`).catch((e: Error) => e);
    if (stream instanceof Error) {
      assert.match(stream.message, /not found|manifest unknown/i);
      return;
    }
    const out = await new Promise<Array<{ error?: string }>>((resolve, reject) => docker.modem.followProgress(stream, (err, o) => (err ? reject(err) : resolve(o))));
    assert.match(String(out[out.length - 1]?.error), /not found|manifest unknown/i);
    await assert.rejects(docker.getImage(`${reg.host}/dr/missing:latest`).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('createContainer, start, wait, logs demuxed into stdout and stderr', async () => {
    const c = await docker.createContainer({ Image: ref, name: 'dr-logs', Cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 3'] });
    await c.start();
    assert.deepEqual(await c.wait(), { StatusCode: 3, Error: null });
    const logs = await c.logs({ follow: true, stdout: true, stderr: true });
    const { out, err, done } = demux(docker, logs);
    await done;
    assert.equal(out(), 'to-out\n');
    assert.equal(err(), 'to-err\n');
    // Without follow dockerode returns the raw multiplexed buffer; tail=-1 means every line.
    const buf = (await c.logs({ stdout: true, stderr: true, tail: -1 } as Docker.ContainerLogsOptions & { follow?: false })) as unknown as Buffer;
    assert.equal(buf[0], 1); // a stdout frame first
    assert.match(buf.toString('latin1'), /to-out\n[\s\S]*to-err\n/);
    await c.remove();
  });

  test('exec with output and its exit code from inspect', async () => {
    const c = await docker.createContainer({ Image: ref, name: 'dr-exec', Cmd: ['sleep', '300'] });
    await c.start();
    const exec = await c.exec({ Cmd: ['sh', '-c', 'echo in-exec; exit 4'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const { out, done } = demux(docker, stream);
    await done;
    assert.equal(out(), 'in-exec\n');
    const info = await exec.inspect();
    assert.equal(info.ExitCode, 4);
    assert.equal(info.Running, false);
    await c.remove({ force: true });
  });

  test('attach with stdin', async () => {
    const c = await docker.createContainer({ Image: ref, name: 'dr-attach', Cmd: ['sh', '-c', 'read line; echo got-$line'], OpenStdin: true, StdinOnce: true });
    const stream = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const { out, done } = demux(docker, stream);
    await c.start();
    stream.write('hello\n');
    assert.deepEqual(await c.wait(), { StatusCode: 0, Error: null });
    await done;
    assert.equal(out(), 'got-hello\n');
    await c.remove();
  });

  test('listContainers with filters, and inspect', async () => {
    const a = await docker.createContainer({ Image: ref, name: 'dr-list-a', Cmd: ['sleep', '300'], Labels: { dr: 'a' } });
    const b = await docker.createContainer({ Image: ref, name: 'dr-list-b', Cmd: ['true'], Labels: { dr: 'b' } });
    await a.start();
    const running = await docker.listContainers({ filters: { label: ['dr'] } });
    assert.deepEqual(running.map((c) => c.Names[0]), ['/dr-list-a']);
    const all = await docker.listContainers({ all: true, filters: { label: ['dr=b'] } });
    assert.deepEqual(all.map((c) => c.Id), [b.id]);
    assert.equal(all[0].State, 'created');
    const info = await a.inspect();
    assert.equal(info.Name, '/dr-list-a');
    assert.equal(info.State.Running, true);
    assert.ok(info.State.Pid > 0);
    assert.deepEqual(info.Config.Cmd, ['sleep', '300']);
    assert.equal(info.Config.Labels.dr, 'a');
    await a.stop({ t: 1 });
    assert.equal((await a.inspect()).State.Status, 'exited');
    await a.remove();
    await b.remove();
    await assert.rejects(a.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('networks: create, inspect, connect, list, remove', async () => {
    const net = await docker.createNetwork({ Name: 'dr-net', Labels: { dr: '1' } });
    const c = await docker.createContainer({ Image: ref, name: 'dr-net-c', Cmd: ['sleep', '300'] });
    await c.start();
    await net.connect({ Container: c.id });
    const info = await net.inspect();
    assert.equal(info.Name, 'dr-net');
    assert.equal(info.Driver, 'bridge');
    assert.ok(c.id in (info.Containers ?? {}), JSON.stringify(info.Containers));
    const listed = await docker.listNetworks({ filters: { label: ['dr=1'] } });
    assert.deepEqual(listed.map((n) => n.Name), ['dr-net']);
    await net.disconnect({ Container: c.id });
    await c.remove({ force: true });
    await net.remove();
    assert.ok(!(await docker.listNetworks()).some((n) => n.Name === 'dr-net'));
  });

  test('volumes: create, inspect, list, remove', async () => {
    const v = await docker.createVolume({ Name: 'dr-vol', Labels: { dr: '1' } });
    assert.equal((v as unknown as Docker.Volume).name, 'dr-vol');
    const info = await docker.getVolume('dr-vol').inspect();
    assert.equal(info.Driver, 'local');
    assert.deepEqual(info.Labels, { dr: '1' });
    const { Volumes } = await docker.listVolumes({ filters: { label: ['dr=1'] } });
    assert.deepEqual(Volumes.map((x) => x.Name), ['dr-vol']);
    await docker.getVolume('dr-vol').remove();
    await assert.rejects(docker.getVolume('dr-vol').inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('getEvents with since/until and filters', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const c = await docker.createContainer({ Image: ref, name: 'dr-ev', Cmd: ['true'] });
    await c.start();
    await c.wait();
    await c.remove();
    const until = Math.floor(Date.now() / 1000) + 1;
    const stream = await docker.getEvents({ since, until, filters: { container: ['dr-ev'], type: ['container'] } });
    const { text, done } = collect(stream);
    await done;
    const actions = text().trim().split('\n').map((l) => JSON.parse(l) as { Action: string; Type: string; Actor: { Attributes: Record<string, string> } });
    assert.deepEqual(actions.map((e) => e.Action), ['create', 'start', 'die', 'destroy']);
    assert.ok(actions.every((e) => e.Type === 'container' && e.Actor.Attributes.name === 'dr-ev'));
  });

  test('image inspect, tag, remove', async () => {
    const img = docker.getImage(ref);
    const info = await img.inspect();
    await img.tag({ repo: `${reg.host}/dr/other`, tag: 'v9' });
    const tagged = await docker.getImage(`${reg.host}/dr/other:v9`).inspect();
    assert.equal(tagged.Id, info.Id);
    assert.ok(tagged.RepoTags.includes(`${reg.host}/dr/other:v9`));
    const removed = await docker.getImage(`${reg.host}/dr/other:v9`).remove();
    assert.deepEqual(removed, [{ Untagged: `${reg.host}/dr/other:v9` }]);
    const list = await docker.listImages();
    assert.ok(list.some((i) => i.Id === info.Id && i.RepoTags?.includes(ref)));
    assert.ok(!list.some((i) => i.RepoTags?.includes(`${reg.host}/dr/other:v9`)));
    await assert.rejects(docker.getImage(`${reg.host}/dr/other:v9`).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });
});
