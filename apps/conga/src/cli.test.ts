// The CLI against a fake Engine API server on a temp unix socket: what it sends, what it prints,
// and its exit codes. Each test gets its own socket dir and server, closed in t.after.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame } from './demux';
import { FakeEngine, runConga, sendJson } from './testing/fake-engine';

const ID = 'f'.repeat(12) + '0123456789abcdef'.repeat(3) + '0123';

async function setup(t: TestContext): Promise<{ engine: FakeEngine; host: string; sock: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'conga-cli-'));
  const sock = join(dir, 'conga.sock');
  const engine = new FakeEngine();
  await engine.listen(sock);
  t.after(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { engine, host: `unix://${sock}`, sock };
}

function pullStream(engine: FakeEngine, messages: unknown[]): void {
  engine.on('POST', '/images/create', (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    // Glue two messages into one chunk and split another across writes, as real streams do.
    const text = messages.map((m) => JSON.stringify(m) + '\r\n').join('');
    const mid = Math.floor(text.length / 2);
    res.write(text.slice(0, mid));
    res.end(text.slice(mid));
  });
}

const PULL_OK = [
  { status: 'Pulling from busybox', id: 'latest' },
  { status: 'Pulling fs layer', id: 'aaa' },
  { status: 'Downloading', id: 'aaa', progressDetail: { current: 10, total: 100 }, progress: '[>  ] 10B/100B' },
  { status: 'Downloading', id: 'aaa', progressDetail: { current: 50, total: 100 }, progress: '[=> ] 50B/100B' },
  { status: 'Pull complete', id: 'aaa' },
  { status: 'Digest: sha256:' + 'a'.repeat(64) },
  { status: 'Status: Downloaded newer image for 127.0.0.1:5000/busybox:latest' },
];

test('pull: sends fromImage/tag, prints each status change once when not a TTY', async (t) => {
  const { engine, host } = await setup(t);
  pullStream(engine, PULL_OK);
  const r = await runConga(['-H', host, 'pull', '127.0.0.1:5000/busybox']);
  assert.equal(r.code, 0, r.stderr);
  const req = engine.requests[0];
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/images/create');
  assert.equal(req.query.get('fromImage'), '127.0.0.1:5000/busybox');
  assert.equal(req.query.get('tag'), 'latest');
  assert.equal(
    r.stdout,
    [
      'latest: Pulling from busybox',
      'aaa: Pulling fs layer',
      'aaa: Downloading',
      'aaa: Pull complete',
      'Digest: sha256:' + 'a'.repeat(64),
      'Status: Downloaded newer image for 127.0.0.1:5000/busybox:latest',
      '127.0.0.1:5000/busybox:latest',
      '',
    ].join('\n'),
  );
  assert.equal(r.stderr, '');
});

test('pull: an error message in the stream is printed and exits 1; an HTTP error too', async (t) => {
  const { engine, host } = await setup(t);
  pullStream(engine, [{ status: 'Pulling from x', id: 'latest' }, { errorDetail: { message: 'manifest unknown' }, error: 'manifest unknown' }]);
  const r = await runConga(['-H', host, 'pull', '127.0.0.1:5000/x:v9']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'manifest unknown\n');
  assert.equal(engine.requests[0].query.get('tag'), 'v9');

  engine.on('POST', '/images/create', (_q, res) => sendJson(res, 404, { message: 'pull access denied for nope' }));
  const r2 = await runConga(['-H', host, 'pull', 'nope']);
  assert.equal(r2.code, 1);
  assert.equal(r2.stderr, 'Error response from daemon: pull access denied for nope\n');
});

test('run -d: create body and name, start, prints the full id', async (t) => {
  const { engine, host } = await setup(t);
  engine.on('POST', '/containers/create', (_q, res) => sendJson(res, 201, { Id: ID, Warnings: [] }));
  engine.on('POST', `/containers/${ID}/start`, (_q, res) => res.writeHead(204).end());
  const r = await runConga(
    ['run', '-d', '--rm', '--name', 'web', '-e', 'A=1', '-e', 'FROM_ENV', '-e', 'UNSET_VAR', '-w', '/srv', '-u', '1:2', '-h', 'box', '--entrypoint', '/bin/sh', 'busybox', '-c', 'echo hi'],
    { CONGA_HOST: host, FROM_ENV: 'yes' },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, ID + '\n');
  const [create, start] = engine.requests;
  assert.equal(create.path, '/containers/create');
  assert.equal(create.query.get('name'), 'web');
  const body = create.body as Record<string, unknown>;
  assert.equal(body.Image, 'busybox');
  assert.deepEqual(body.Cmd, ['-c', 'echo hi']);
  assert.deepEqual(body.Env, ['A=1', 'FROM_ENV=yes']);
  assert.deepEqual(body.Entrypoint, ['/bin/sh']);
  assert.equal(body.WorkingDir, '/srv');
  assert.equal(body.User, '1:2');
  assert.equal(body.Hostname, 'box');
  assert.equal(body.Tty, false);
  assert.equal(body.AttachStdout, false);
  assert.deepEqual(body.HostConfig, { AutoRemove: true });
  assert.equal(start.path, `/containers/${ID}/start`);
  assert.equal(engine.requests.length, 2);
});

test('run: a missing image is pulled (progress on stderr) and create retried', async (t) => {
  const { engine, host } = await setup(t);
  let creates = 0;
  engine.on('POST', '/containers/create', (_q, res) =>
    ++creates === 1 ? sendJson(res, 404, { message: 'No such image: busybox:latest' }) : sendJson(res, 201, { Id: ID, Warnings: ['low memory'] }),
  );
  pullStream(engine, PULL_OK);
  engine.on('POST', `/containers/${ID}/start`, (_q, res) => res.writeHead(204).end());
  const r = await runConga(['-H', host, 'run', '-d', 'busybox']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, ID + '\n');
  assert.match(r.stderr, /^Unable to find image 'busybox:latest' locally\nlatest: Pulling from busybox\n/);
  assert.match(r.stderr, /aaa: Pull complete\n/);
  assert.match(r.stderr, /WARNING: low memory\n/);
  assert.deepEqual(
    engine.requests.map((q) => `${q.method} ${q.path}`),
    ['POST /containers/create', 'POST /images/create', 'POST /containers/create', `POST /containers/${ID}/start`],
  );
  assert.equal(engine.requests[1].query.get('fromImage'), 'busybox');
});

test('run attached --rm: attach before start, wait for removal, demuxed output, exit status', async (t) => {
  const { engine, host } = await setup(t);
  engine.on('POST', '/containers/create', (_q, res) => sendJson(res, 201, { Id: ID }));
  engine.on('POST', `/containers/${ID}/start`, (_q, res) => res.writeHead(204).end());
  let finish: () => void = () => {};
  engine.on('POST', `/containers/${ID}/attach`, (_q, res) => {
    res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
    const all = Buffer.concat([encodeFrame(1, 'hello\n'), encodeFrame(2, 'oops\n'), encodeFrame(1, 'bye\n')]);
    // Output only once the container is started, as a real daemon would.
    finish = () => {
      res.write(all.subarray(0, 11));
      res.end(all.subarray(11));
    };
  });
  engine.on('POST', `/containers/${ID}/wait`, async (_q, res) => {
    await engine.waitFor('POST', `/containers/${ID}/start`);
    finish();
    sendJson(res, 200, { StatusCode: 3, Error: null });
  });
  const r = await runConga(['-H', host, 'run', '--rm', 'busybox', 'sh', '-c', 'exit 3']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'hello\nbye\n');
  assert.equal(r.stderr, 'oops\n');
  const body = engine.requests[0].body as Record<string, unknown>;
  assert.equal(body.AttachStdout, true);
  assert.equal(body.AttachStderr, true);
  assert.deepEqual(body.HostConfig, { AutoRemove: true });
  assert.deepEqual(body.Cmd, ['sh', '-c', 'exit 3']);
  const at = (m: string, p: string) => engine.requests.findIndex((q) => q.method === m && q.path === p);
  const start = at('POST', `/containers/${ID}/start`);
  assert.ok(at('POST', `/containers/${ID}/wait`) < start, 'wait is asked before start');
  assert.ok(at('POST', `/containers/${ID}/attach`) < start, 'attach is opened before start');
  const wait = engine.requests[at('POST', `/containers/${ID}/wait`)].query;
  assert.equal(wait.get('condition'), 'removed');
  const attach = engine.requests[at('POST', `/containers/${ID}/attach`)].query;
  assert.equal(attach.get('stream'), '1');
  assert.equal(attach.get('stdout'), '1');
  assert.equal(attach.get('stderr'), '1');
  assert.equal(at('DELETE', `/containers/${ID}`), -1);
});

test('run attached without an attach endpoint: follows logs after start, then waits', async (t) => {
  const { engine, host } = await setup(t);
  engine.on('POST', '/containers/create', (_q, res) => sendJson(res, 201, { Id: ID }));
  engine.on('POST', `/containers/${ID}/start`, (_q, res) => res.writeHead(204).end());
  engine.on('GET', `/containers/${ID}/logs`, (_q, res) => {
    res.writeHead(200);
    res.end(Buffer.concat([encodeFrame(1, 'out\n'), encodeFrame(2, 'err\n')]));
  });
  engine.on('POST', `/containers/${ID}/wait`, (_q, res) => sendJson(res, 200, { StatusCode: 2 }));
  const r = await runConga(['-H', host, 'run', 'busybox']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.deepEqual(
    engine.requests.map((q) => `${q.method} ${q.path}`),
    ['POST /containers/create', `POST /containers/${ID}/attach`, `POST /containers/${ID}/start`, `GET /containers/${ID}/logs`, `POST /containers/${ID}/wait`],
  );
  const logs = engine.requests[3].query;
  assert.equal(logs.get('follow'), '1');
  assert.equal(engine.requests[4].query.get('condition'), null);
  assert.deepEqual((engine.requests[0].body as Record<string, unknown>).HostConfig, { AutoRemove: false });
});

test('run attached: SIGINT is forwarded as POST /kill?signal=SIGINT', async (t) => {
  const { engine, host } = await setup(t);
  let endLogs: () => void = () => {};
  engine.on('POST', '/containers/create', (_q, res) => sendJson(res, 201, { Id: ID }));
  engine.on('POST', `/containers/${ID}/start`, (_q, res) => res.writeHead(204).end());
  engine.on('POST', `/containers/${ID}/attach`, (_q, res) => {
    res.writeHead(200);
    res.write(encodeFrame(1, 'running\n'));
    endLogs = () => res.end();
  });
  engine.on('POST', `/containers/${ID}/kill`, (_q, res) => {
    res.writeHead(204).end();
    endLogs();
  });
  engine.on('POST', `/containers/${ID}/wait`, (_q, res) => sendJson(res, 200, { StatusCode: 130 }));
  let pid = 0;
  const done = runConga(['-H', host, 'run', 'busybox', 'sleep', '100'], {}, (p) => (pid = p));
  await engine.waitFor('POST', `/containers/${ID}/start`);
  process.kill(pid, 'SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(r.stdout, 'running\n');
  const kill = engine.requests.find((q) => q.path.endsWith('/kill'));
  assert.equal(kill?.query.get('signal'), 'SIGINT');
});

test('run: failures before start exit 125, a command not found 127; --rm cleans up a failed start', async (t) => {
  const { engine, host } = await setup(t);
  engine.on('POST', '/containers/create', (_q, res) => sendJson(res, 409, { message: 'Conflict. The container name "/web" is already in use' }));
  const r = await runConga(['-H', host, 'run', '--name', 'web', 'busybox']);
  assert.equal(r.code, 125);
  assert.equal(r.stderr, 'conga: Error response from daemon: Conflict. The container name "/web" is already in use\n');

  engine.on('POST', '/containers/create', (_q, res) => sendJson(res, 201, { Id: ID }));
  engine.on('POST', `/containers/${ID}/start`, (_q, res) =>
    sendJson(res, 400, { message: 'failed to create task: exec: "nope": executable file not found in $PATH' }),
  );
  engine.on('DELETE', `/containers/${ID}`, (_q, res) => res.writeHead(204).end());
  const r2 = await runConga(['-H', host, 'run', '--rm', '-d', 'busybox', 'nope']);
  assert.equal(r2.code, 127);
  assert.match(r2.stderr, /executable file not found/);
  assert.equal(r2.stdout, '');
  assert.ok(engine.requests.some((q) => q.method === 'DELETE' && q.path === `/containers/${ID}`));
});

test('run: flag errors exit 125 without calling the daemon; missing image argument exits 1', async (t) => {
  const { engine, host } = await setup(t);
  const r = await runConga(['-H', host, 'run', '--bogus', 'busybox']);
  assert.equal(r.code, 125);
  assert.equal(r.stderr, "conga: unknown flag: --bogus\nSee 'conga run --help'.\n");
  const r2 = await runConga(['-H', host, 'run']);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /^"conga run" requires at least 1 argument\./);
  const r3 = await runConga(['-H', host, 'frobnicate']);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /'frobnicate' is not a conga command/);
  assert.equal(engine.requests.length, 0);
});

test('ps: docker table, -a sends all=1, -q prints short ids, --no-trunc full', async (t) => {
  const { engine, host } = await setup(t);
  const created = Math.floor(Date.now() / 1000) - 2 * 3600;
  const list = [
    {
      Id: ID,
      Names: ['/web'],
      Image: 'busybox',
      Command: 'sh -c while true; do sleep 1; done',
      Created: created,
      State: 'running',
      Status: 'Up 2 hours',
      Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }],
    },
    { Id: 'b'.repeat(64), Names: ['/done'], Image: 'sha256:' + 'c'.repeat(64), Command: 'true', Created: created, State: 'exited', Status: 'Exited (0) 2 hours ago', Ports: [] },
  ];
  engine.on('GET', '/containers/json', (_q, res) => sendJson(res, 200, list));
  const r = await runConga(['-H', host, 'ps', '-a']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(engine.requests[0].query.get('all'), '1');
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  assert.match(lines[1], /^ffffffffffff {3}busybox {8}"sh -c while true; d…" {3}2 hours ago {3}Up 2 hours {15}0\.0\.0\.0:8080->80\/tcp {3}web$/);
  assert.match(lines[2], /^bbbbbbbbbbbb {3}cccccccccccc\s+"true"\s+2 hours ago\s+Exited \(0\) 2 hours ago\s+done$/);
  // columns line up
  assert.equal(lines[0].indexOf('IMAGE'), lines[1].indexOf('busybox'));
  assert.equal(lines[0].indexOf('NAMES'), lines[1].indexOf('web'));

  const q = await runConga(['-H', host, 'ps', '-q']);
  assert.equal(q.stdout, `ffffffffffff\n${'b'.repeat(12)}\n`);
  assert.equal(engine.requests[1].query.get('all'), null);
  const full = await runConga(['-H', host, 'ps', '--no-trunc']);
  assert.match(full.stdout, new RegExp(`${ID}\\s+busybox\\s+"sh -c while true; do sleep 1; done"`));
});

test('images: table with humanised size, -q dedupes ids', async (t) => {
  const { engine, host } = await setup(t);
  const created = Math.floor(Date.now() / 1000) - 3 * 86400;
  engine.on('GET', '/images/json', (_q, res) =>
    sendJson(res, 200, [
      { Id: 'sha256:' + '1'.repeat(64), RepoTags: ['busybox:latest', '127.0.0.1:5000/busybox:v1'], RepoDigests: [], Created: created, Size: 4_261_412 },
      { Id: 'sha256:' + '2'.repeat(64), RepoTags: null, RepoDigests: null, Created: created, Size: 999 },
    ]),
  );
  const r = await runConga(['-H', host, 'images']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  assert.match(lines[1], /^busybox\s+latest\s+111111111111\s+3 days ago\s+4\.26MB$/);
  assert.match(lines[2], /^127\.0\.0\.1:5000\/busybox\s+v1\s+111111111111\s+3 days ago\s+4\.26MB$/);
  assert.match(lines[3], /^<none>\s+<none>\s+222222222222\s+3 days ago\s+999B$/);
  const q = await runConga(['-H', host, 'images', '-q']);
  assert.equal(q.stdout, '111111111111\n222222222222\n');
});

test('logs: inspect then demuxed logs with follow/tail/timestamps', async (t) => {
  const { engine, host } = await setup(t);
  engine.on('GET', '/containers/web/json', (_q, res) => sendJson(res, 200, { Id: ID, Config: { Tty: false } }));
  engine.on('GET', '/containers/web/logs', (_q, res) => {
    res.writeHead(200);
    res.end(Buffer.concat([encodeFrame(2, 'err line\n'), encodeFrame(1, 'out line\n')]));
  });
  const r = await runConga(['-H', host, 'logs', '-f', '--tail', '5', '-t', 'web']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'out line\n');
  assert.equal(r.stderr, 'err line\n');
  const q = engine.requests[1].query;
  assert.equal(q.get('follow'), '1');
  assert.equal(q.get('tail'), '5');
  assert.equal(q.get('timestamps'), '1');
  const missing = await runConga(['-H', host, 'logs', 'nope']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'Error response from daemon: page not found: GET /containers/nope/json\n');
});

test('stop -t and rm -f: print each name; a failure is reported and exits 1', async (t) => {
  const { engine, host } = await setup(t);
  engine.on('POST', '/containers/a/stop', (_q, res) => res.writeHead(204).end());
  engine.on('POST', '/containers/b/stop', (_q, res) => res.writeHead(304).end());
  const s = await runConga(['-H', host, 'stop', '-t', '5', 'a', 'b']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, 'a\nb\n');
  assert.equal(engine.requests[0].query.get('t'), '5');

  engine.on('DELETE', '/containers/a', (_q, res) => res.writeHead(204).end());
  engine.on('DELETE', '/containers/b', (_q, res) => sendJson(res, 404, { message: 'No such container: b' }));
  const r = await runConga(['-H', host, 'rm', '-f', 'a', 'b']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, 'a\n');
  assert.equal(r.stderr, 'Error response from daemon: No such container: b\n');
  const del = engine.requests.filter((q) => q.method === 'DELETE');
  assert.equal(del.length, 2);
  assert.ok(del.every((q) => q.query.get('force') === '1'));
});

test('version and info: client block, then the server answer', async (t) => {
  const { engine, host } = await setup(t);
  engine.on('GET', '/version', (_q, res) =>
    sendJson(res, 200, { Version: '0.1.0', ApiVersion: '1.41', MinAPIVersion: '1.12', Os: 'linux', Arch: 'amd64', KernelVersion: '6.1.0' }),
  );
  engine.on('GET', '/info', (_q, res) =>
    sendJson(res, 200, { Containers: 3, ContainersRunning: 1, ContainersPaused: 0, ContainersStopped: 2, Images: 5, ServerVersion: '0.1.0', Driver: 'overlay', MemTotal: 4026531840, NCPU: 2 }),
  );
  const v = await runConga(['-H', host, 'version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^Client:\n Version:\s+0\.1\.0\n API version:\s+1\.41\n/);
  assert.match(v.stdout, /\nServer:\n Engine:\n  Version:\s+0\.1\.0\n  API version:\s+1\.41 \(minimum version 1\.12\)\n/);
  const i = await runConga(['-H', host, 'info']);
  assert.equal(i.code, 0, i.stderr);
  assert.match(i.stdout, /\n Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 5\n/);
  assert.match(i.stdout, /\n Total Memory: 3\.75GiB\n/);
});

test('daemon down: clear message and exit 1 (run: 125); DOCKER_HOST unix:// is honoured', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'conga-cli-down-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const host = `unix://${join(dir, 'none.sock')}`;
  const r = await runConga(['ps'], { DOCKER_HOST: host });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `Cannot connect to the Conga daemon at ${host}: is congad running?\n`);
  const r2 = await runConga(['-H', host, 'run', 'busybox']);
  assert.equal(r2.code, 125);
  assert.equal(r2.stderr, `conga: Cannot connect to the Conga daemon at ${host}: is congad running?\n`);
  const v = await runConga(['--host', host, 'version']);
  assert.equal(v.code, 1);
  assert.match(v.stdout, /^Client:\n/);
  assert.match(v.stderr, /Cannot connect to the Conga daemon/);
});

test('help: conga --help lists commands, conga ps --help lists flags', async () => {
  const g = await runConga(['--help']);
  assert.equal(g.code, 0);
  for (const c of ['images', 'info', 'logs', 'ps', 'pull', 'rm', 'run', 'stop', 'version']) assert.match(g.stdout, new RegExp(`\\n  ${c} +\\S`));
  const p = await runConga(['ps', '--help']);
  assert.equal(p.code, 0);
  assert.match(p.stdout, /Usage:  conga ps \[OPTIONS\]/);
  assert.match(p.stdout, /-a, --all/);
  assert.match(p.stdout, /--no-trunc/);
});
