import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';

/** A ws client on the daemon's unix socket (ws's `ws+unix:<socket>:<path>` form). */
function connect(d: Daemon, path: string): WebSocket {
  return new WebSocket(`ws+unix:${d.socket}:${path}`);
}

/**
 * GET /containers/{id}/attach/ws with the `ws` client, as dockerd serves it: output as binary
 * frames (raw, not multiplexed), client frames to stdin, close when the container stops.
 */
describe('attach over a websocket', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let ref: string;

  before(async () => {
    reg = await startRegistry();
    ref = (await pushImage(reg.host, 'ws/busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    assert.equal((await d.api('POST', `/images/create?fromImage=${encodeURIComponent(ref)}`)).status, 200);
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test('stdin from client frames, output as binary frames, closed on exit', async () => {
    const created = await d.api('POST', '/containers/create?name=ws-echo', { Image: ref, Cmd: ['sh', '-c', 'read l; echo "got $l"; echo on-err >&2; exit 5'], OpenStdin: true, StdinOnce: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.Id as string;
    const ws = connect(d, `/v1.41/containers/${id}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1`);
    const frames: Array<{ data: string; binary: boolean }> = [];
    ws.on('message', (data: Buffer, binary: boolean) => frames.push({ data: data.toString('utf8'), binary }));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
    ws.send('hello\n');
    assert.equal(await closed, 1000);
    assert.ok(frames.length > 0 && frames.every((f) => f.binary), JSON.stringify(frames));
    const text = frames.map((f) => f.data).join('');
    assert.match(text, /got hello\n/);
    assert.match(text, /on-err\n/);
    assert.doesNotMatch(text, /\u0001\u0000\u0000\u0000/, 'output is raw, not multiplexed');
    assert.equal((await d.api('GET', `/containers/${id}/json`)).body.State.ExitCode, 5);
    await d.api('DELETE', `/containers/${id}`);
  });

  test('only the streams asked for; closing the socket leaves the container running', async () => {
    const created = await d.api('POST', '/containers/create?name=ws-out', { Image: ref, Cmd: ['sh', '-c', 'while true; do echo tick; echo tock >&2; sleep 0.1; done'] });
    const id = created.body.Id as string;
    assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
    const ws = connect(d, `/containers/ws-out/attach/ws?stream=1&stdout=1`);
    let text = '';
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        text += data.toString('utf8');
        if ((text.match(/tick/g) ?? []).length >= 3) resolve();
      });
      ws.once('error', reject);
    });
    assert.doesNotMatch(text, /tock/);
    ws.close();
    await new Promise((r) => ws.once('close', r));
    assert.equal((await d.api('GET', `/containers/${id}/json`)).body.State.Status, 'running');
    assert.equal((await d.api('DELETE', `/containers/${id}?force=1`)).status, 204);
  });

  test('logs=1 replays earlier output first; with stream=0 it ends after that; detach keys end only the session', { timeout: 60_000 }, async () => {
    const created = await d.api('POST', '/containers/create?name=ws-logs', { Image: ref, Cmd: ['sh', '-c', 'echo first-line; cat'], OpenStdin: true, Tty: true });
    const id = created.body.Id as string;
    assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
    for (let i = 0; !String((await d.api('GET', `/containers/${id}/logs?stdout=1`)).body).includes('first-line'); i++) {
      assert.ok(i < 300, 'the container never wrote its first line');
      await new Promise((r) => setTimeout(r, 100));
    }
    const session = async (query: string, act?: (ws: WebSocket) => void) => {
      const ws = connect(d, `/containers/${id}/attach/ws?${query}`);
      let text = '';
      ws.on('message', (data: Buffer) => (text += data.toString('utf8')));
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      act?.(ws);
      return { code: await closed, text: () => text };
    };
    // Without logs=1, an attach to a running container starts at "now".
    const replay = await session('logs=1&stream=0&stdout=1');
    assert.equal(replay.code, 1000);
    assert.match(replay.text(), /first-line/);
    // logs=1&stream=1: the earlier line, then live echo of stdin; ctrl-p ctrl-q detaches.
    const live = await session('logs=1&stream=1&stdin=1&stdout=1', (ws) => {
      let seen = '';
      let typed = false;
      let detached = false;
      ws.on('message', (data: Buffer) => {
        seen += data.toString('utf8');
        if (!typed && /first-line/.test(seen)) {
          typed = true;
          ws.send('typed-here\n');
        }
        // The terminal echoes the line and cat prints it again: then ctrl-p ctrl-q.
        if (!detached && /typed-here[\s\S]*typed-here/.test(seen)) {
          detached = true;
          ws.send(Buffer.from([0x10, 0x11]));
        }
      });
    });
    assert.equal(live.code, 1000);
    assert.match(live.text(), /first-line[\s\S]*typed-here/);
    assert.equal((await d.api('GET', `/containers/${id}/json`)).body.State.Status, 'running', 'detaching left the container running');
    assert.equal((await d.api('DELETE', `/containers/${id}?force=1`)).status, 204);
  });

  test('an unknown container is a 404 before the upgrade', async () => {
    const ws = connect(d, '/containers/no-such-ctr/attach/ws?stream=1&stdout=1');
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
    assert.equal(status, 404);
  });
});
