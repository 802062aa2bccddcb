import { EventEmitter } from 'node:events';
import { finished } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import { toCongaError, type Logger } from '@conga/common';
import { errorStatus, exitStatus, successStatus } from './k8s-status';
import type { AttachRequest, ExecRequest, StreamBackend, TerminalSize } from './types';

/** Remote command protocols, best first (k8s names; v5 adds closing a channel over WebSocket). */
export const REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

/** The version number of a remote command protocol name (channel.k8s.io is 1). */
export function protocolVersion(p: string): number {
  const m = /^v(\d+)\./.exec(p);
  return m ? Number(m[1]) : 1;
}

/** The client's channels of one session, by role; error is always there. */
export interface SessionChannels {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  error: Writable;
  resize?: Readable;
}

/** Turn the resize channel's JSON objects ({"Width":..,"Height":..}, one after another) into events. */
function resizeEvents(src: Readable | undefined, log: Logger): EventEmitter {
  const ev = new EventEmitter();
  if (!src) return ev;
  let buf = '';
  src.setEncoding('utf8');
  src.on('data', (s: string) => {
    buf += s;
    for (let end = buf.indexOf('}'); end >= 0; end = buf.indexOf('}')) {
      const doc = buf.slice(0, end + 1);
      buf = buf.slice(end + 1);
      try {
        const v = JSON.parse(doc) as { Width?: unknown; Height?: unknown };
        const size: TerminalSize = { width: Number(v.Width), height: Number(v.Height) };
        if (Number.isInteger(size.width) && Number.isInteger(size.height) && size.width > 0 && size.height > 0 && size.width < 65536 && size.height < 65536) {
          ev.emit('resize', size);
        }
      } catch {
        log.debug({ doc: doc.slice(0, 100) }, 'streaming: ignoring a malformed resize message');
      }
    }
    if (buf.length > 4096) buf = '';
  });
  src.on('error', () => undefined);
  return ev;
}

/**
 * Run one exec or attach session on the backend with the client's channels, then report the
 * outcome on the error channel as the negotiated protocol wants it (v4+: a metav1.Status JSON;
 * older: the error text, nothing on success) and end every output channel.
 */
export async function runRemoteCommand(
  backend: StreamBackend,
  kind: { exec: ExecRequest } | { attach: AttachRequest },
  ch: SessionChannels,
  version: number,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const tty = 'exec' in kind ? kind.exec.tty : kind.attach.tty;
  const io = { stdin: ch.stdin, stdout: ch.stdout, stderr: tty ? undefined : ch.stderr, tty, resizes: resizeEvents(ch.resize, log), signal };
  let report: string | undefined;
  try {
    if ('exec' in kind) {
      const code = await backend.exec(kind.exec, io);
      if (code !== 0) {
        report = version >= 4 ? exitStatus(code, kind.exec.cmd) : `command terminated with non-zero exit code: error executing command [${kind.exec.cmd.join(' ')}], exit code ${code}`;
      } else if (version >= 4) report = successStatus();
    } else {
      await backend.attach(kind.attach, io);
      if (version >= 4) report = successStatus();
    }
  } catch (e) {
    const err = toCongaError(e);
    log.debug({ err: e }, 'streaming session failed');
    report = version >= 4 ? errorStatus(err.message) : err.message;
  }
  // Only our sending side is waited for: Go clients (kubelet, kubectl, crictl) never half-close
  // the output streams they only read, and wait for the error stream and the connection to end.
  const outs = [ch.stdout, ch.stderr].filter((w): w is Writable => !!w && !w.destroyed);
  for (const w of outs) w.end();
  await Promise.all(outs.map((w) => finished(w, { readable: false }).catch(() => undefined)));
  if (!ch.error.destroyed) {
    if (report !== undefined) ch.error.write(report);
    ch.error.end();
    await finished(ch.error, { readable: false }).catch(() => undefined);
  }
}
