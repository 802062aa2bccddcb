import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

/** Bytes held for a reader that is slower than the download before streaming is given up. */
const MAX_QUEUED = 16 * 1024 * 1024;

/**
 * The bytes of a layer blob, relayed to storage through a private unix socket while the blob
 * downloads, so that decompressing, hashing and unpacking overlap the download.
 *
 * Streaming is an optimisation and never holds the download back: bytes are queued for a reader
 * that is slow (or not connected yet) up to {@link MAX_QUEUED}; past that, or on any socket
 * error, the feed gives up and the layer is applied from the verified blob file instead.
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

  /** A chunk of the blob starting at byte `offset`. */
  feed(chunk: Buffer, offset: number): void {
    if (this.gaveUp || this.ended) return;
    const end = offset + chunk.length;
    if (end <= this.relayed) return;
    if (offset > this.relayed) return this.giveUp(); // a gap cannot be relayed
    const part = chunk.subarray(this.relayed - offset);
    this.relayed = end;
    if (this.sock) {
      this.sock.write(part);
      if (this.sock.writableLength > MAX_QUEUED) this.giveUp();
      return;
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
