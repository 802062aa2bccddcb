import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { finished } from 'node:stream/promises';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { E, silentLogger } from '@conga/common';
import { fuzzParams } from '../../../../test/fuzz/fuzz-options';
import { SPDY3_DICTIONARY } from './spdy-dictionary';
import { encodeFrame, FrameReader, type Frame } from './spdy-frames';
import { HeaderCompressor, HeaderDecompressor, packHeaders, unpackHeaders, type SpdyHeaders } from './spdy-headers';
import { StreamingServer } from './streaming-server';
import { readAll, spdyConnect, UpgradeRefused, wsConnect } from './stream-client';
import { TokenCache } from './token-cache';
import type { StreamBackend, StreamIO, TerminalSize } from './types';

/** Plain objects (fast-check 4 makes null-prototype ones by default). */
function rec<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}
const u31 = fc.integer({ min: 0, max: 0x7fffffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  rec({ type: fc.constant('data' as const), streamId: u31, fin: fc.boolean(), data: bytes }),
  rec({
    type: fc.constant('syn_stream' as const), streamId: u31, associatedId: u31, priority: fc.integer({ min: 0, max: 7 }),
    slot: fc.integer({ min: 0, max: 255 }), fin: fc.boolean(), unidirectional: fc.boolean(), block: bytes,
  }),
  rec({ type: fc.constant('syn_reply' as const), streamId: u31, fin: fc.boolean(), block: bytes }),
  rec({ type: fc.constant('headers' as const), streamId: u31, fin: fc.boolean(), block: bytes }),
  rec({ type: fc.constant('rst_stream' as const), streamId: u31, status: u32 }),
  rec({
    type: fc.constant('settings' as const), clear: fc.boolean(),
    entries: fc.array(rec({ flags: fc.integer({ min: 0, max: 255 }), id: fc.integer({ min: 0, max: 0xffffff }), value: u32 }), { maxLength: 5 }),
  }),
  rec({ type: fc.constant('ping' as const), id: u32 }),
  rec({ type: fc.constant('goaway' as const), lastGoodStreamId: u31, status: u32 }),
  rec({ type: fc.constant('window_update' as const), streamId: u31, delta: u31 }),
);
const headersArb: fc.Arbitrary<SpdyHeaders> = fc.dictionary(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
  fc.array(fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 3 }),
  { maxKeys: 8, noNullPrototype: true },
);

describe('SPDY/3.1 codec', () => {
  test('the header dictionary is the 1423 bytes of the SPDY/3 draft', () => {
    assert.equal(SPDY3_DICTIONARY.length, 1423);
    assert.equal(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex'), '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
    assert.equal(SPDY3_DICTIONARY.subarray(0, 11).toString('latin1'), '\0\0\0\u0007options');
    assert.ok(SPDY3_DICTIONARY.toString('latin1').endsWith('utf-,*,enq=0.'));
  });

  test('any sequence of frames survives encoding and any split of the byte stream', () => {
    fc.assert(fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }), (frames, cuts) => {
      const wire = Buffer.concat(frames.map(encodeFrame));
      const r = new FrameReader();
      const got: Frame[] = [];
      for (let off = 0, i = 0; off < wire.length; i++) {
        const n = cuts[i % cuts.length];
        got.push(...r.push(wire.subarray(off, off + n)));
        off += n;
      }
      assert.deepEqual(got, frames);
    }), fuzzParams(300));
  });

  test('malformed frames are catalog errors, not crashes', () => {
    const bad = Buffer.from([0x80, 0x03, 0x00, 0x63, 0, 0, 0, 0]);
    assert.throws(() => new FrameReader().push(bad), (e) => E.CriStreamProtocol.is(e) && /unknown SPDY control frame type 99/.test((e as Error).message));
    const v2 = Buffer.from([0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]);
    assert.throws(() => new FrameReader().push(v2), (e) => E.CriStreamProtocol.is(e) && /version 2/.test((e as Error).message));
    const short = Buffer.from([0x80, 0x03, 0x00, 0x09, 0, 0, 0, 2, 0, 0]);
    assert.throws(() => new FrameReader().push(short), (e) => E.CriStreamProtocol.is(e));
  });

  test('header blocks: pack/unpack round trip, and compression shares one context per direction', async () => {
    fc.assert(fc.property(headersArb, (h) => assert.deepEqual({ ...unpackHeaders(packHeaders(h)) }, h)), fuzzParams(300));
    await fc.assert(fc.asyncProperty(fc.array(headersArb, { minLength: 1, maxLength: 6 }), async (blocks) => {
      const c = new HeaderCompressor();
      const d = new HeaderDecompressor();
      try {
        // Compress all first (queued in order), then inflate in the same order.
        const wire = await Promise.all(blocks.map((b) => c.compress(b)));
        for (let i = 0; i < blocks.length; i++) assert.deepEqual({ ...(await d.decompress(wire[i])) }, blocks[i]);
      } finally {
        c.close();
        d.close();
      }
    }), fuzzParams(100));
    assert.throws(() => unpackHeaders(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9, 1])), (e) => E.CriStreamProtocol.is(e));
  });
});

test('token cache: one use, expiry', () => {
  let now = 1000;
  const t = new TokenCache<string>(60_000, () => now);
  const a = t.put('a');
  const b = t.put('b');
  assert.notEqual(a, b);
  assert.equal(t.take(a), 'a');
  assert.equal(t.take(a), undefined, 'a token works once');
  now += 60_001;
  assert.equal(t.take(b), undefined, 'an expired token is refused');
  assert.equal(t.take('nope'), undefined);
});

/** A backend whose "commands" exercise each part of the protocol. */
class FakeBackend implements StreamBackend {
  bigWritten = false;
  lastPortForwardPod = '';
  async exec(req: { cmd: string[] }, io: StreamIO): Promise<number> {
    const [cmd, arg] = req.cmd;
    if (cmd === 'out-err') {
      io.stdout!.write('to stdout\n');
      io.stderr!.write('to stderr\n');
      return Number(arg);
    }
    if (cmd === 'cat') {
      io.stdin!.pipe(io.stdout!, { end: false });
      await finished(io.stdin!, { writable: false });
      return 0;
    }
    if (cmd === 'big') {
      await new Promise<void>((r) => io.stdout!.write(Buffer.alloc(Number(arg), 'x'), () => r()));
      this.bigWritten = true;
      return 0;
    }
    if (cmd === 'sizes') {
      const sizes: TerminalSize[] = [];
      await new Promise<void>((r) => io.resizes.on('resize', (s: TerminalSize) => sizes.push(s) === 2 && r()));
      io.stdout!.write(sizes.map((s) => `${s.width}x${s.height}`).join(','));
      return 0;
    }
    throw E.ContainerNotRunning('c1');
  }
  async attach(_req: unknown, io: StreamIO): Promise<void> {
    io.stdout!.write('attached\n');
    io.stdin!.pipe(io.stdout!, { end: false });
    await finished(io.stdin!, { writable: false });
  }
  async portForward(pod: string, port: number, conn: Duplex): Promise<void> {
    this.lastPortForwardPod = pod;
    if (port === 1) throw E.CriPortForwardFailed(pod, port, 'connection refused');
    conn.on('data', (b: Buffer) => conn.write(Buffer.from(b.toString('latin1').toUpperCase(), 'latin1')));
    await new Promise<void>((r) => conn.once('end', () => r()));
    conn.end();
  }
}

const V4 = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

/** kubectl's side of an exec/attach over SPDY. */
async function spdySession(url: string, o: { stdin?: Buffer; stderr?: boolean; tty?: boolean; resize?: TerminalSize[]; flowControl?: boolean; holdStdout?: boolean } = {}) {
  const { session, protocol } = await spdyConnect(url, V4, o.flowControl ?? true);
  // Like client-go: the streams it only reads (error, stdout, stderr) are never half-closed.
  const error = await session.openStream({ streamtype: ['error'] });
  const stdin = o.stdin ? await session.openStream({ streamtype: ['stdin'] }) : undefined;
  const stdout = await session.openStream({ streamtype: ['stdout'] });
  const stderr = o.stderr ? await session.openStream({ streamtype: ['stderr'] }) : undefined;
  const resize = o.tty ? await session.openStream({ streamtype: ['resize'] }) : undefined;
  for (const s of o.resize ?? []) resize!.write(JSON.stringify({ Width: s.width, Height: s.height }) + '\n');
  if (stdin) stdin.end(o.stdin);
  const result = async () => {
    const [out, err, status] = await Promise.all([readAll(stdout), stderr ? readAll(stderr) : Buffer.alloc(0), readAll(error)]);
    return { protocol, stdout: out, stderr: err.toString(), status: status.toString() };
  };
  return { session, stdout, result };
}

describe('streaming server (fake backend)', () => {
  const backend = new FakeBackend();
  let srv: StreamingServer;
  const exec = (cmd: string[], o: { stdin?: boolean; stderr?: boolean; tty?: boolean } = {}) =>
    srv.execUrl({ containerId: 'c1', cmd, tty: !!o.tty, stdin: !!o.stdin, stdout: true, stderr: o.stderr ?? !o.tty });

  before(async () => {
    srv = new StreamingServer(backend, { log: silentLogger() });
    await srv.start();
  });
  after(() => srv.close());

  test('SPDY exec: stdout and stderr apart, the exit code as a v4 Status', async () => {
    const s = await spdySession(exec(['out-err', '3']), { stderr: true });
    const r = await s.result();
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.equal(r.stdout.toString(), 'to stdout\n');
    assert.equal(r.stderr, 'to stderr\n');
    const st = JSON.parse(r.status);
    assert.equal(st.status, 'Failure');
    assert.equal(st.reason, 'NonZeroExitCode');
    assert.deepEqual(st.details.causes, [{ reason: 'ExitCode', message: '3' }]);
    const ok = await (await spdySession(exec(['out-err', '0']), { stderr: true })).result();
    assert.deepEqual(JSON.parse(ok.status), { metadata: {}, status: 'Success' });
  });

  test('SPDY exec: a backend failure reaches the client on the error stream', async () => {
    const r = await (await spdySession(exec(['nope']), { stderr: true })).result();
    const st = JSON.parse(r.status);
    assert.equal(st.status, 'Failure');
    assert.match(st.message, /Container c1 is not running/);
  });

  for (const flowControl of [true, false]) {
    test(`SPDY exec: 200 KiB through cat both ways (${flowControl ? 'SPDY/3.1 flow control' : 'a peer without flow control, like spdystream'})`, async () => {
      const data = randomBytes(200 * 1024);
      const r = await (await spdySession(exec(['cat'], { stdin: true }), { stdin: data, stderr: true, flowControl })).result();
      assert.equal(r.stdout.length, data.length);
      assert.ok(r.stdout.equals(data), 'the bytes come back unchanged');
      assert.deepEqual(JSON.parse(r.status).status, 'Success');
    });
  }

  test('SPDY flow control: the server stops at the 64 KiB window until the client reads', async () => {
    backend.bigWritten = false;
    const s = await spdySession(exec(['big', String(200 * 1024)]), { stderr: true, flowControl: true });
    // Do not read stdout: the server may send one initial window and no more.
    const end = Date.now() + 20_000;
    while (s.stdout.readableLength < 64 * 1024 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.stdout.readableLength, 64 * 1024, 'exactly one window arrived');
    await s.session.ping(); // anything sent before the server answered the ping has arrived
    assert.equal(s.stdout.readableLength, 64 * 1024, 'nothing beyond the window');
    assert.equal(backend.bigWritten, false, 'the backend is held back');
    const r = await s.result();
    assert.equal(r.stdout.length, 200 * 1024);
    assert.equal(backend.bigWritten, true);
  });

  test('SPDY exec with a TTY: resize messages reach the backend', async () => {
    const r = await (await spdySession(exec(['sizes'], { tty: true }), { tty: true, resize: [{ width: 100, height: 30 }, { width: 120, height: 40 }] })).result();
    assert.equal(r.stdout.toString(), '100x30,120x40');
  });

  test('SPDY attach', async () => {
    const url = srv.attachUrl({ containerId: 'c1', tty: false, stdin: true, stdout: true, stderr: false });
    const r = await (await spdySession(url, { stdin: Buffer.from('hi\n') })).result();
    assert.equal(r.stdout.toString(), 'attached\nhi\n');
    assert.deepEqual(JSON.parse(r.status).status, 'Success');
  });

  test('URLs work once; unknown, reused, plain or unsupported requests are refused', async () => {
    const url = exec(['out-err', '0']);
    await (await spdySession(url, { stderr: true })).result();
    await assert.rejects(spdyConnect(url, V4), (e) => e instanceof UpgradeRefused && e.status === 404 && /valid once/.test(e.body));
    await assert.rejects(spdyConnect(`${srv.url()}/exec/nope`, V4), (e) => e instanceof UpgradeRefused && e.status === 404);
    await assert.rejects(spdyConnect(exec(['cat']), ['v9.channel.k8s.io']), (e) => e instanceof UpgradeRefused && e.status === 403 && /v9/.test(e.body));
    const plain = await fetch(exec(['cat']));
    assert.equal(plain.status, 400);
    assert.throws(() => srv.execUrl({ containerId: 'c1', cmd: [], tty: false, stdin: false, stdout: true, stderr: false }), (e) => E.InvalidArgument.is(e));
    assert.throws(() => srv.portForwardUrl({ podSandboxId: 'p', ports: [70000] }), (e) => E.InvalidArgument.is(e));
  });

  test('SPDY port-forward: data relayed, failures on the error stream', async () => {
    const { session } = await spdyConnect(srv.portForwardUrl({ podSandboxId: 'pod1', ports: [] }), ['portforward.k8s.io']);
    const pair = async (port: number, id: string) => {
      const error = await session.openStream({ streamtype: ['error'], port: [String(port)], requestid: [id] });
      error.end();
      const data = await session.openStream({ streamtype: ['data'], port: [String(port)], requestid: [id] });
      return { error, data };
    };
    const a = await pair(8080, '0');
    const b = await pair(1, '1');
    a.data.end('hello');
    b.data.end();
    assert.equal((await readAll(a.data)).toString(), 'HELLO');
    assert.equal((await readAll(a.error)).toString(), '');
    assert.match((await readAll(b.error)).toString(), /cannot forward port 1 of pod sandbox pod1: connection refused/);
    assert.equal(backend.lastPortForwardPod, 'pod1');
    await session.close();
  });

  test('WebSocket exec (v4 and v5 channels) and port-forward', async () => {
    const chan = (msgs: Buffer[], n: number) => Buffer.concat(msgs.filter((m) => m[0] === n).map((m) => m.subarray(1))).toString();
    const v4 = await wsConnect(exec(['out-err', '2']), ['v4.channel.k8s.io']);
    await new Promise((r) => v4.ws.once('close', r));
    assert.equal(chan(v4.messages, 1), 'to stdout\n');
    assert.equal(chan(v4.messages, 2), 'to stderr\n');
    assert.deepEqual(JSON.parse(chan(v4.messages, 3)).details.causes[0], { reason: 'ExitCode', message: '2' });

    const v5 = await wsConnect(exec(['cat'], { stdin: true }), ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    assert.equal(v5.ws.protocol, 'v5.channel.k8s.io');
    v5.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('via websocket')]));
    v5.ws.send(Buffer.from([255, 0]));
    await new Promise((r) => v5.ws.once('close', r));
    assert.equal(chan(v5.messages, 1), 'via websocket');
    assert.deepEqual(JSON.parse(chan(v5.messages, 3)).status, 'Success');

    const pf = await wsConnect(srv.portForwardUrl({ podSandboxId: 'pod2', ports: [] }) + '?port=8080', ['portforward.k8s.io']);
    const until = async (ok: () => boolean) => {
      for (const end = Date.now() + 20_000; !ok() && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => pf.messages.length >= 2);
    assert.deepEqual(pf.messages.slice(0, 2).map((m) => [...m]), [[0, 0x90, 0x1f], [1, 0x90, 0x1f]], 'each channel starts with the port (little endian)');
    pf.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('abc')]));
    await until(() => pf.messages.length >= 3);
    assert.equal(chan(pf.messages.slice(2), 0), 'ABC');
    assert.equal(backend.lastPortForwardPod, 'pod2');
    pf.ws.close();
  });
});
