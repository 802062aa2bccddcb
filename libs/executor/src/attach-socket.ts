import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { E } from '@conga/common';

/**
 * A client of conmon's attach socket. conmon listens on a SOCK_SEQPACKET unix socket, which
 * node's `net` cannot open, so a tiny bridge runs in perl (perl-base is Essential on Debian, so
 * it is always there): it connects the socket, writes each packet to its stdout as a frame
 * `[stream u8][length u32be][payload]` (stream 2 = stdout, 3 = stderr; one empty frame of
 * stream 0 once connected) and sends what it reads on stdin as packets of at most 4 KiB. On
 * stdin EOF it half-closes the socket (conmon then closes the container's stdin if it was
 * asked to); when conmon closes the socket (the process exited) the bridge exits.
 * The bridge is this process's child only for the duration of one attach session.
 */
const BRIDGE = String.raw`
use strict; use warnings; use Socket; use IO::Select;
$SIG{PIPE} = 'IGNORE';
my ($path, $discard) = @ARGV;
socket(my $s, AF_UNIX, SOCK_SEQPACKET, 0) or die "socket: $!\n";
connect($s, pack_sockaddr_un($path)) or die "connect $path: $!\n";
binmode STDIN; binmode STDOUT;
sub out { my $b = shift; while (length $b) { my $n = syswrite(STDOUT, $b); exit 0 unless defined $n && $n > 0; substr($b, 0, $n) = ''; } }
out(pack('CN', 0, 0));
my $sel = IO::Select->new($s, \*STDIN);
while (1) {
  for my $fh ($sel->can_read) {
    if (fileno($fh) == fileno($s)) {
      my $n = sysread($s, my $buf, 65536);
      exit 0 unless $n;
      next if $discard;
      out(pack('CN', ord(substr($buf, 0, 1)), $n - 1) . substr($buf, 1));
    } else {
      my $n = sysread(STDIN, my $buf, 4096);
      if (!$n) { $sel->remove(\*STDIN); shutdown($s, 1); next; }
      defined(send($s, $buf, 0)) or exit 0;
    }
  }
}
`;

/** Options of {@link connectAttachSocket}. */
export interface AttachSocketOptions {
  /** Drop the container's output (the caller reads it elsewhere, e.g. from the log). */
  discardOutput?: boolean;
  /** How long to wait for the connection; default 10 s. */
  timeoutMs?: number;
}

/**
 * One connection to an attach socket. Events: `data` (stream: 'stdout' | 'stderr', Buffer) and
 * `close` (once, when the socket was closed by either side). Owned by the executor; used by the
 * engine (same host) for docker attach and exec.
 */
export class AttachConnection extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Resolves when the connection is closed. */
  readonly closed: Promise<void>;

  /**
   * Output that arrived before anyone listened for it (it can come in the same chunk as the
   * connect frame, before the caller had the connection): kept, up to 4 MiB, for the first
   * `data` listener. A `close` in that time waits behind it.
   */
  private held: Array<['stdout' | 'stderr', Buffer]> | null = [];
  private heldBytes = 0;
  private closeHeld = false;

  constructor(private readonly child: ChildProcess) {
    super();
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdin!.on('error', () => undefined);
    this.on('newListener', (event: string) => {
      if (event !== 'data' || this.held === null) return;
      // newListener fires before the listener is added: hand the held output over right after.
      queueMicrotask(() => {
        const held = this.held ?? [];
        this.held = null;
        for (const [stream, payload] of held) super.emit('data', stream, payload);
        if (this.closeHeld) super.emit('close');
      });
    });
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (this.held !== null && event === 'data') {
      const [stream, payload] = args as ['stdout' | 'stderr', Buffer];
      if (this.heldBytes + payload.length <= 4 << 20) {
        this.held.push([stream, payload]);
        this.heldBytes += payload.length;
      }
      return true;
    }
    if (this.held !== null && event === 'close' && this.held.length > 0) {
      this.closeHeld = true;
      return true;
    }
    return super.emit(event, ...args);
  }

  /** Parse bridge frames; returns true on the connect frame. */
  feed(chunk: Buffer): boolean {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let connected = false;
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      const stream = this.buf[0];
      const payload = this.buf.subarray(5, 5 + len);
      this.buf = this.buf.subarray(5 + len);
      if (stream === 0) connected = true;
      else if (payload.length) this.emit('data', stream === 3 ? 'stderr' : 'stdout', payload);
    }
    return connected;
  }

  /** Send bytes to the process's stdin. */
  write(data: Buffer | string): void {
    if (!this.ended) this.child.stdin!.write(data);
  }

  /** Close the input side (EOF on the process's stdin when the container was so configured). */
  endInput(): void {
    if (this.ended) return;
    this.ended = true;
    this.child.stdin!.end();
  }

  /** Disconnect (detach); the process keeps running. Idempotent. */
  close(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Connect to the attach socket at `path`; rejects with a clear error when nobody listens. */
export function connectAttachSocket(path: string, opts: AttachSocketOptions = {}): Promise<AttachConnection> {
  const child = spawn('perl', ['-e', BRIDGE, path, opts.discardOutput ? '1' : ''], { stdio: ['pipe', 'pipe', 'pipe'] });
  const conn = new AttachConnection(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (stderr += s).length > 4000 && (stderr = stderr.slice(-4000)));
  return new Promise((resolve, reject) => {
    let connected = false;
    const timer = setTimeout(() => {
      conn.close();
      reject(E.RuntimeFailed('attach', `no answer from the attach socket ${path} within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(E.RuntimeFailed('attach', `cannot start the attach bridge (perl): ${e.message}`));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      if (conn.feed(chunk) && !connected) {
        connected = true;
        clearTimeout(timer);
        resolve(conn);
      }
    });
    child.once('close', () => {
      clearTimeout(timer);
      if (!connected) reject(E.RuntimeFailed('attach', `cannot connect to the attach socket ${path}: ${stderr.trim() || 'the bridge exited'}`));
      conn.emit('close');
    });
  });
}
