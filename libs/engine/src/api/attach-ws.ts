import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { toCongaError, type CallContext } from '@conga/common';
import { connectAttachSocket, type AttachConnection } from '@conga/executor/src/attach-socket';
import type { Engine } from '../engine';
import { boolParam } from './server';
import { whenRunning } from './exec-routes';
import { DetachDetector, parseDetachKeys } from '../detach-keys';

/**
 * GET /containers/{id}/attach/ws: docker attach over a websocket, as dockerd serves it (owner:
 * Engine API). The container's output goes out as binary frames, raw bytes without docker's
 * stream multiplexing (dockerd does not multiplex here either); every frame from the client, text
 * or binary, goes to the container's stdin once it runs (when it was created with OpenStdin and
 * stdin=1). logs=1 sends what the container wrote before; stream=0 ends after that. The socket
 * closes (1000) when the container stops or is removed. Only whole
 * requests reach here: the http server's `upgrade` event routes them (see exec-routes.ts).
 */
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

/** An HTTP error answer before the upgrade (dockerd's JSON body). */
function refuse(socket: Duplex, e: unknown): void {
  const err = toCongaError(e);
  const body = JSON.stringify({ message: err.message });
  socket.end(`HTTP/1.1 ${err.httpStatus} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export function attachWebSocket(engine: Engine, req: IncomingMessage, socket: Duplex, head: Buffer, id: string, q: Record<string, string | undefined>, ctx: CallContext): void {
  const ctrs = engine.containers;
  let c;
  try {
    c = ctrs.get(id);
  } catch (e) {
    return refuse(socket, e);
  }
  const cid = c.Id;
  let keys: Buffer;
  try {
    keys = parseDetachKeys(q.detachKeys);
  } catch (e) {
    return refuse(socket, e);
  }
  const wantStdin = boolParam(q.stdin) && !!c.Config.OpenStdin;
  // docker's defaults for the ws endpoint: no stream selected means none (stdout/stderr opt in).
  const stdout = boolParam(q.stdout);
  const stderr = boolParam(q.stderr);
  wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
    const ac = new AbortController();
    let conn: AttachConnection | undefined;
    const pending: Buffer[] = [];
    ws.on('error', () => undefined);
    ws.on('close', () => {
      ac.abort();
      conn?.close();
    });
    if (wantStdin) {
      // Detach keys (ctrl-p ctrl-q unless detachKeys says otherwise) end this session only, with a
      // TTY, as on the hijacked endpoint.
      const det = new DetachDetector(c!.Config.Tty ? keys : Buffer.alloc(0));
      ws.on('message', (data: RawData) => {
        const { forward, detach } = det.push(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
        if (forward.length) {
          if (conn) conn.write(forward);
          else pending.push(forward);
        }
        if (detach) ws.close(1000);
      });
      void connectStdin(engine, cid, ac.signal, ctx).then((cn) => {
        if (!cn) return;
        if (ac.signal.aborted) return cn.close();
        conn = cn;
        for (const b of pending.splice(0)) cn.write(b);
      });
    }
    const send = (data: string) => ws.readyState === ws.OPEN && ws.send(Buffer.from(data, 'utf8'), { binary: true });
    const logs = boolParam(q.logs);
    const output = !(stdout || stderr)
      ? ctrs.wait(cid, 'not-running', ac.signal)
      : q.stream !== undefined && !boolParam(q.stream)
        ? logs ? ctrs.logs(cid, { stdout, stderr, follow: false, signal: ac.signal }, (r) => send(r.data)) : Promise.resolve()
        : ctrs.attach(cid, { stdout, stderr, logs, signal: ac.signal }, (r) => send(r.data));
    output.then(
      () => ws.close(1000),
      (e: unknown) => {
        if (!ac.signal.aborted) ctx.log.warn({ err: e, id: cid }, 'attach/ws: output stream failed');
        ws.close(1011);
      },
    );
  });
}

/** conmon's attach socket once the container runs; undefined if it never does or `signal` fires. */
async function connectStdin(engine: Engine, id: string, signal: AbortSignal, ctx: CallContext): Promise<AttachConnection | undefined> {
  const running = await whenRunning(engine.containers, id, signal);
  if (!running) return undefined;
  try {
    const target = await engine.services.executor.attachTask({ containerId: id }, ctx);
    return await connectAttachSocket(target.socketPath, { discardOutput: true });
  } catch (e) {
    ctx.log.warn({ err: e, id }, 'attach/ws: cannot forward stdin');
    return undefined;
  }
}
