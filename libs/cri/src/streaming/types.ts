import type { EventEmitter } from 'node:events';
import type { Duplex, Readable, Writable } from 'node:stream';

/** A terminal size as the k8s resize channel sends it. */
export interface TerminalSize {
  width: number;
  height: number;
}

/** CRI ExecRequest as the streaming server keeps it behind a token. */
export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** CRI AttachRequest. */
export type AttachRequest = Omit<ExecRequest, 'cmd'>;

/** CRI PortForwardRequest (no ports: the client names them). */
export interface PortForwardRequest {
  podSandboxId: string;
  ports: number[];
}

/**
 * The client's side of one exec or attach session, whatever the transport (SPDY streams or
 * WebSocket channels). Streams the client did not ask for are absent. `resizes` emits
 * 'resize' (TerminalSize) for TTY sessions; the first size may arrive before the process
 * starts. `signal` aborts when the client went away.
 */
export interface StreamIO {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  tty: boolean;
  resizes: EventEmitter;
  signal: AbortSignal;
}

/**
 * What the streaming server runs sessions on (owner: CRI streaming). `exec` resolves with the
 * exit code; `attach` resolves when the container stopped or the client left; `portForward`
 * relays `conn` to `port` on 127.0.0.1 inside the pod's network namespace and resolves when
 * either side closed. Failures reject with a catalog error whose message reaches the client.
 */
export interface StreamBackend {
  exec(req: ExecRequest, io: StreamIO): Promise<number>;
  attach(req: AttachRequest, io: StreamIO): Promise<void>;
  portForward(podSandboxId: string, port: number, conn: Duplex, signal: AbortSignal): Promise<void>;
}
