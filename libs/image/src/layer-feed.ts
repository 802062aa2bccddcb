import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

/** Bytes held for a reader that has not connected yet before streaming is given up. */
const MAX_QUEUED = 8 * 1024 * 1024;
/** Past this many unread bytes in the socket, the download waits for the reader. */
const HIGH_WATER = 1024 * 1024;

/**
 * The bytes of a layer blob, relayed to storage through a private unix socket while the blob
 * downloads, so that decompressing, hashing and unpacking overlap the download.
 *
 * Once storage reads, the download goes at the pace of the unpacking (as docker's does): `feed`
 * returns a promise to wait on when the reader is {@link HIGH_WATER} behind. Before it connects
 * (it may be waiting for a lock), bytes are queued up to {@link MAX_QUEUED}; past that, or on
 * any socket error, the feed gives up and the layer is applied from the verified file instead.
 * `feed` receives each chunk with its offset in the blob: a download that resumes (HTTP Range)
 * or starts over repeats bytes already relayed, and those are skipped.
 */
export class LayerFeed {
  readonly path: string;
  private readonly server: Server;
  private sock: Socket | undefined;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private relayed = 0;
  private gaveUp = false;
  private ended = false;

  constructor(dir: string) {
    this.path = join(dir, `${randomBytes(8).toString('hex')}.feed`);
    this.server = createServer((s) => this.onConnection(s));
    this.server.on('error', () => this.giveUp());
    this.server.listen(this.path);
  }

  /** Did the feed give up (the layer must be applied from the file)? */
  get failed(): boolean {
    return this.gaveUp;
  }

  /** A chunk of the blob starting at byte `offset`; a promise: wait for it before the next one. */
  feed(chunk: Buffer, offset: number): Promise<void> | undefined {
    if (this.gaveUp || this.ended) return;
    const end = offset + chunk.length;
    if (end <= this.relayed) return;
    if (offset > this.relayed) {
      this.giveUp(); // a gap cannot be relayed
      return;
    }
    const part = chunk.subarray(this.relayed - offset);
    this.relayed = end;
    const sock = this.sock;
    if (sock) {
      sock.write(part);
      if (sock.writableLength <= HIGH_WATER) return;
      return new Promise<void>((resolve) => {
        const done = () => {
          sock.off('drain', done);
          sock.off('close', done);
          resolve();
        };
        sock.on('drain', done);
        sock.on('close', done);
      });
    }
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
    if (this.pendingBytes > MAX_QUEUED) this.giveUp();
  }

  /** The whole blob was relayed and verified: let the reader see its end. */
  end(): void {
    if (this.gaveUp || this.ended) return;
    this.ended = true;
    if (this.sock) this.sock.end();
    this.closeServer();
  }

  /** Stop relaying: the reader sees a broken stream (and its apply fails). Idempotent. */
  giveUp(): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    this.pending.length = 0;
    this.sock?.destroy();
    this.closeServer();
  }

  private onConnection(s: Socket): void {
    s.on('error', () => this.giveUp());
    if (this.sock || this.gaveUp) {
      s.destroy();
      return;
    }
    this.sock = s;
    for (const b of this.pending.splice(0)) s.write(b);
    this.pendingBytes = 0;
    if (this.ended) s.end();
  }

  private closeServer(): void {
    this.server.close();
    rmSync(this.path, { force: true });
  }
}
