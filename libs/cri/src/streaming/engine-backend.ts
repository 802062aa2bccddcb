import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { E, newContext, type Logger } from '@conga/common';
import type { Engine } from '@conga/engine';
import { Execs } from '@conga/engine/src/execs';
import { connectAttachSocket, type AttachConnection } from '@conga/executor/src/attach-socket';
import type { AttachRequest, ExecRequest, StreamBackend, StreamIO, TerminalSize } from './types';

/**
 * The port-forward relay, run as `nsenter --net=<pod netns> perl -e RELAY PORT`: it connects
 * to 127.0.0.1:PORT inside the pod's network namespace and copies bytes between that socket
 * and its stdin/stdout; stdin EOF half-closes the socket, the socket's EOF ends the relay.
 * perl-base is Essential on Debian (the attach bridge relies on it too), so no extra package.
 */
const RELAY = String.raw`
use strict; use warnings; use Socket; use IO::Select;
$SIG{PIPE} = 'IGNORE';
my $port = shift;
socket(my $s, AF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "cannot connect to 127.0.0.1:$port in the pod: $!\n";
binmode STDIN; binmode STDOUT;
my $sel = IO::Select->new($s, \*STDIN);
while (1) {
  for my $fh ($sel->can_read) {
    my $from_sock = fileno($fh) == fileno($s);
    my $n = sysread($fh, my $buf, 65536);
    if (!$n) {
      exit 0 if $from_sock;
      $sel->remove(\*STDIN); shutdown($s, 1); next;
    }
    my $out = $from_sock ? \*STDOUT : $s;
    while (length $buf) { my $w = syswrite($out, $buf); exit 0 unless defined $w && $w > 0; substr($buf, 0, $w) = ''; }
  }
}
`;

export interface EngineBackendOptions {
  /** The pinned network namespace of a pod (null: the pod uses the host's network). Throws for an unknown pod. */
  netnsOf(podSandboxId: string): string | null;
  log: Logger;
}

/**
 * The streaming backend on congad's Engine (owner: CRI streaming): exec through the engine's
 * exec sessions (conmon --exec and its attach socket), attach to a container's output (its
 * log, from now on) and stdin (conmon's attach socket), port-forward through a relay process
 * that enters the pod's network namespace.
 */
export class EngineStreamBackend implements StreamBackend {
  private readonly execs: Execs;

  constructor(private readonly engine: Engine, private readonly opts: EngineBackendOptions) {
    this.execs = new Execs(engine.containers, engine.services, opts.log);
  }

  async exec(req: ExecRequest, io: StreamIO): Promise<number> {
    const ctx = newContext(this.opts.log);
    const { Id } = this.execs.create(req.containerId, { Cmd: req.cmd, Tty: req.tty, AttachStdin: !!io.stdin, AttachStdout: !!io.stdout, AttachStderr: !!io.stderr });
    let size: TerminalSize | undefined;
    let started = false;
    const resize = (s: TerminalSize) => void this.execs.resize(Id, s.height, s.width, ctx).catch((err) => ctx.log.debug({ err }, 'exec resize failed'));
    io.resizes.on('resize', (s: TerminalSize) => (started ? resize(s) : (size = s)));
    const conn = (await this.execs.start(Id, false, ctx))!;
    started = true;
    if (size) resize(size);
    this.pipe(conn, io);
    await conn.closed;
    await this.execs.finish(Id);
    return this.execs.get(Id).ExitCode ?? 137;
  }

  async attach(req: AttachRequest, io: StreamIO): Promise<void> {
    const ctx = newContext(this.opts.log);
    const ctrs = this.engine.containers;
    const c = ctrs.get(req.containerId);
    if (c.State.Status !== 'running') throw E.ContainerNotRunning(c.Id);
    const ex = this.engine.services.executor;
    io.resizes.on('resize', (s: TerminalSize) =>
      void ex.resizeTask({ containerId: c.Id, height: s.height, width: s.width }, ctx).catch((err) => ctx.log.debug({ err }, 'attach resize failed')));
    const ac = new AbortController();
    const stop = () => ac.abort();
    io.signal.addEventListener('abort', stop, { once: true });
    let conn: AttachConnection | undefined;
    try {
      const write = (stream: 'stdout' | 'stderr', data: string) => {
        const w = stream === 'stderr' && !req.tty ? io.stderr : io.stdout;
        if (w && !w.destroyed) w.write(Buffer.from(data, 'utf8'));
      };
      // Follow the output first (from now on), then connect stdin: an answer to the first
      // input lands after the log position the follow starts from (starting the perl bridge
      // takes far longer than the follow's first read).
      const output = ctrs.attach(c.Id, { stdout: !!io.stdout, stderr: !!io.stderr || req.tty, signal: ac.signal }, (r) => write(r.stream, r.data));
      output.catch(() => undefined); // awaited below; a stdin failure first must not leave it unhandled
      if (io.stdin && c.Config.OpenStdin) {
        const target = await ex.attachTask({ containerId: c.Id }, ctx);
        conn = await connectAttachSocket(target.socketPath, { discardOutput: true });
        this.pipe(conn, { ...io, stdout: undefined, stderr: undefined });
      }
      await output;
    } finally {
      io.signal.removeEventListener('abort', stop);
      ac.abort();
      conn?.close();
    }
  }

  async portForward(podSandboxId: string, port: number, conn: Duplex, signal: AbortSignal): Promise<void> {
    const netns = this.opts.netnsOf(podSandboxId);
    if (netns === null) return relayHost(podSandboxId, port, conn, signal);
    const child = spawn('nsenter', [`--net=${netns}`, '--', 'perl', '-e', RELAY, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
    child.stdin!.on('error', () => undefined);
    conn.pipe(child.stdin!);
    child.stdout!.pipe(conn);
    const kill = () => child.kill('SIGKILL');
    signal.addEventListener('abort', kill, { once: true });
    conn.once('close', kill);
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', (e) => reject(E.CriPortForwardFailed(podSandboxId, port, `cannot start nsenter: ${e.message}`)));
        child.once('close', (c) => resolve(c));
      });
      if (code !== 0 && code !== null) throw E.CriPortForwardFailed(podSandboxId, port, stderr.trim() || `the relay exited with code ${code}`);
    } finally {
      signal.removeEventListener('abort', kill);
      conn.off('close', kill);
      conn.unpipe(child.stdin!);
    }
  }

  /** Client stdin to the session; session output to the client. */
  private pipe(conn: AttachConnection, io: StreamIO): void {
    conn.on('data', (stream: 'stdout' | 'stderr', b: Buffer) => {
      const w = stream === 'stderr' && !io.tty ? io.stderr : io.stdout;
      if (w && !w.destroyed) w.write(b);
    });
    if (io.stdin) {
      io.stdin.on('data', (b: Buffer) => conn.write(b));
      io.stdin.once('end', () => conn.endInput());
      io.stdin.on('error', () => undefined);
    }
    io.signal.addEventListener('abort', () => conn.close(), { once: true });
  }
}

/** Host-network pods: the port is on the host's own loopback. */
function relayHost(pod: string, port: number, conn: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let connected = false;
    sock.once('connect', () => {
      connected = true;
      conn.pipe(sock);
      sock.pipe(conn);
    });
    sock.once('error', (e) => (connected ? undefined : reject(E.CriPortForwardFailed(pod, port, `cannot connect to 127.0.0.1:${port}: ${e.message}`))));
    sock.once('close', () => resolve());
    signal.addEventListener('abort', () => sock.destroy(), { once: true });
    conn.once('close', () => sock.destroy());
  });
}
