import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, pushImage } from '../harness/busybox-image';
import { startDaemon, type Daemon } from '../harness/daemon';
import { criClient, type CriClient } from '../harness/cri-client';
import { readAll, spdyConnect, wsConnect } from '@conga/cri/src/streaming/stream-client';

/**
 * CRI streaming through a real congad: Exec/Attach/PortForward RPCs return URLs of the
 * streaming server, and a client playing kubectl's side (SPDY/3.1 as Go's spdystream speaks
 * it: no flow control; and WebSocket) runs the sessions on real containers in a real pod.
 */

const V4 = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('CRI streaming: exec, attach, port-forward (all-in-one)', () => {
  let reg: TestRegistry;
  let d: Daemon;
  let cri: CriClient;
  let logs: string;
  let pod: string;
  let shell: string;
  let reader: string;

  before(async () => {
    reg = await startRegistry();
    const ref = (await pushImage(reg.host, 'busybox', 'latest', await buildBusyboxImage())).reference;
    d = await startDaemon({ mode: 'all-in-one' });
    logs = mkdtempSync(join(tmpdir(), 'cri-stream-logs-'));
    const sock = join(d.run, 'cri.sock');
    await until('the CRI socket', () => existsSync(sock));
    cri = criClient(sock);
    await cri.image.pullImage({ image: { image: ref } });
    const config = {
      metadata: { name: 'streams', uid: 'uid-streams', namespace: 'default', attempt: 0 },
      hostname: 'streams-host',
      logDirectory: logs,
      linux: { securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    pod = (await cri.runtime.runPodSandbox({ config })).podSandboxId;
    const create = async (name: string, command: string[], extra: object = {}) => {
      const { containerId } = await cri.runtime.createContainer({
        podSandboxId: pod, sandboxConfig: config,
        config: { metadata: { name, attempt: 0 }, image: { image: ref }, command, logPath: `${name}.log`, ...extra },
      });
      await cri.runtime.startContainer({ containerId });
      return containerId as string;
    };
    shell = await create('httpd', ['httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/etc']);
    reader = await create('reader', ['sh', '-c', 'while read l; do echo "got $l"; done'], { stdin: true });
  });
  after(async () => {
    if (cri) {
      if (pod) {
        await cri.runtime.stopPodSandbox({ podSandboxId: pod }).catch(() => undefined);
        await cri.runtime.removePodSandbox({ podSandboxId: pod }).catch(() => undefined);
      }
      cri.close();
    }
    await d?.stop();
    await reg?.stop();
    if (logs) rmSync(logs, { recursive: true, force: true });
  });

  /** kubectl exec's side over SPDY (no flow control, as spdystream). */
  async function spdyExec(url: string, o: { stdin?: Buffer; openStdin?: boolean; stderr?: boolean; tty?: boolean } = {}) {
    const { session, protocol } = await spdyConnect(url, V4, false);
    // Like client-go: the streams it only reads (error, stdout, stderr) are never half-closed.
    const error = await session.openStream({ streamtype: ['error'] });
    const stdin = o.stdin || o.openStdin || o.tty ? await session.openStream({ streamtype: ['stdin'] }) : undefined;
    const stdout = await session.openStream({ streamtype: ['stdout'] });
    const stderr = o.stderr ? await session.openStream({ streamtype: ['stderr'] }) : undefined;
    const resize = o.tty ? await session.openStream({ streamtype: ['resize'] }) : undefined;
    if (o.stdin) stdin!.end(o.stdin);
    return { session, protocol, stdin, stdout, resize, error, stderr };
  }

  test('exec: stdout and stderr apart, exit code through the v4 error stream', async () => {
    const { url } = await cri.runtime.exec({ containerId: shell, cmd: ['sh', '-c', 'echo out; echo err >&2; hostname; exit 3'], stdout: true, stderr: true });
    const s = await spdyExec(url, { stderr: true });
    assert.equal(s.protocol, 'v4.channel.k8s.io');
    const [out, err, status] = await Promise.all([readAll(s.stdout), readAll(s.stderr!), readAll(s.error)]);
    assert.equal(out.toString(), 'out\nstreams-host\n');
    assert.equal(err.toString(), 'err\n');
    const st = JSON.parse(status.toString());
    assert.equal(st.reason, 'NonZeroExitCode');
    assert.deepEqual(st.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  });

  test('exec: 200 KiB through cat, in and out', async () => {
    const data = randomBytes(200 * 1024);
    const { url } = await cri.runtime.exec({ containerId: shell, cmd: ['cat'], stdin: true, stdout: true, stderr: true });
    const s = await spdyExec(url, { stdin: data, stderr: true });
    const [out, status] = await Promise.all([readAll(s.stdout), readAll(s.error), readAll(s.stderr!)]);
    assert.equal(out.length, data.length);
    assert.ok(out.equals(data), 'the bytes came back unchanged');
    assert.deepEqual(JSON.parse(status.toString()), { metadata: {}, status: 'Success' });
  });

  test('exec with a TTY: the resize stream sets the terminal size (stty size)', async () => {
    const { url } = await cri.runtime.exec({ containerId: shell, cmd: ['sh', '-c', 'while read x; do stty size; done'], tty: true, stdin: true, stdout: true });
    const s = await spdyExec(url, { tty: true });
    let out = '';
    s.stdout.on('data', (b: Buffer) => (out += b.toString()));
    s.resize!.write(JSON.stringify({ Width: 99, Height: 33 }) + '\n');
    // The size applies once the process runs: ask again until the shell sees it.
    await until('stty to report 33 rows and 99 columns', () => {
      s.stdin!.write('\n');
      return /33 99/.test(out);
    });
    s.stdin!.write('\u0004');
    await s.session.close();
  });

  test('attach: stdin in, output out (SPDY and WebSocket)', async () => {
    const { url } = await cri.runtime.attach({ containerId: reader, stdin: true, stdout: true, stderr: true });
    const s = await spdyExec(url, { stderr: true, openStdin: true });
    let out = '';
    s.stdout.on('data', (b: Buffer) => (out += b.toString()));
    s.stdin!.write('hello\n');
    await until('the container to answer through attach', () => out.includes('got hello'));
    await s.session.close();

    const w = await cri.runtime.attach({ containerId: reader, stdin: true, stdout: true, stderr: true });
    const ws = await wsConnect(w.url, ['v4.channel.k8s.io']);
    ws.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('over ws\n')]));
    const text = () => Buffer.concat(ws.messages.filter((m) => m[0] === 1).map((m) => m.subarray(1))).toString();
    await until('the container to answer through the websocket', () => text().includes('got over ws'));
    ws.ws.close();
  });

  test('port-forward into the pod netns: busybox httpd on 127.0.0.1:8080; a closed port reports an error', async () => {
    const { url } = await cri.runtime.portForward({ podSandboxId: pod, port: [8080, 8081] });
    const { session } = await spdyConnect(url, ['portforward.k8s.io'], false);
    const pair = async (port: number, id: string) => {
      const error = await session.openStream({ streamtype: ['error'], port: [String(port)], requestid: [id] });
      error.end();
      const data = await session.openStream({ streamtype: ['data'], port: [String(port)], requestid: [id] });
      return { error, data };
    };
    const ok = await pair(8080, '0');
    ok.data.write('GET /hostname HTTP/1.0\r\n\r\n');
    const [resp, errText] = await Promise.all([readAll(ok.data), readAll(ok.error)]);
    assert.match(resp.toString(), /^HTTP\/1\.[01] 200/);
    assert.match(resp.toString(), /streams-host/);
    assert.equal(errText.toString(), '');

    const closed = await pair(8081, '1');
    closed.data.end();
    const [, msg] = await Promise.all([readAll(closed.data), readAll(closed.error)]);
    assert.match(msg.toString(), /cannot forward port 8081 of pod sandbox .*refused/i);
    await session.close();
  });
});
