import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { E, type Logger } from '@conga/common';
import {
  encodeFrame, FrameReader, RstStatus, SETTINGS_INITIAL_WINDOW_SIZE, type Frame,
} from './spdy-frames';
import { HeaderCompressor, HeaderDecompressor, type SpdyHeaders } from './spdy-headers';

/** SPDY/3.1's initial window, per stream and for the session. */
export const DEFAULT_WINDOW = 64 * 1024;
/** Largest DATA frame this side sends (small frames keep streams interleaved fairly). */
const MAX_DATA_FRAME = 16 * 1024;

/**
 * One SPDY stream as a node Duplex: readable = the peer's DATA, writable = our DATA (FIN on
 * end()). `headers` are those of its SYN_STREAM. Each side half-closes on its own.
 */
export class SpdyStream extends Duplex {
  /** Bytes we may still send (SPDY/3.1 flow control). */
  sendWindow: number;
  /** Bytes received and handed on but not yet granted back with WINDOW_UPDATE. */
  private ungranted = 0;
  private received = 0;
  private granted = 0;
  private localFin = false;
  private remoteFin = false;
  private replied = false;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: SpdyHeaders,
    sendWindow: number,
  ) {
    super({ allowHalfOpen: true });
    this.sendWindow = sendWindow;
  }

  /** First value of a header, or ''. */
  header(name: string): string {
    return this.headers[name]?.[0] ?? '';
  }

  /** Answer the peer's SYN_STREAM (servers must, before the peer sees the stream as open). */
  reply(headers: SpdyHeaders = {}, fin = false): Promise<void> {
    if (this.replied) return Promise.resolve();
    this.replied = true;
    if (fin) this.localFin = true;
    return this.session.sendHeaders((block) => ({ type: 'syn_reply', streamId: this.id, fin, block }), headers);
  }

  /** Reset the stream (both directions end at once). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.destroyed) return;
    this.session.sendRaw({ type: 'rst_stream', streamId: this.id, status });
    this.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.session.sendData(this, chunk, false).then(() => cb(), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.localFin) return cb();
    this.localFin = true;
    this.session.sendData(this, Buffer.alloc(0), true).then(() => {
      this.maybeForget();
      cb();
    }, cb);
  }

  override _read(): void {
    // Data is pushed as frames arrive; window is granted as it is consumed (read() below).
  }

  /** Every way of consuming (read(), flowing mode, async iteration) goes through here. */
  override read(size?: number): any {
    const chunk = super.read(size);
    this.grant();
    return chunk;
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.session.forget(this.id);
    cb(err);
  }

  /** @internal A DATA frame from the peer. */
  onData(data: Buffer, fin: boolean): void {
    if (this.remoteFin) return this.reset(RstStatus.STREAM_ALREADY_CLOSED);
    if (data.length) {
      this.received += data.length;
      this.push(data);
      this.grant();
    }
    if (fin) this.onRemoteFin();
  }

  /**
   * @internal The connection is gone. What the peer sent stays readable and then ends (a
   * server often closes right after its last frames); nothing more can be sent.
   */
  onSessionGone(): void {
    this.emit('gone');
    this.localFin = true;
    this.onRemoteFin();
    if (!this.writableEnded) this.end();
  }

  /** @internal The peer half-closed. */
  onRemoteFin(): void {
    if (this.remoteFin) return;
    this.remoteFin = true;
    this.push(null);
    this.maybeForget();
  }

  /** Give the peer back the window for what our reader took (in steps, as SPDY peers do). */
  private grant(): void {
    const consumed = this.received - this.readableLength;
    this.ungranted = consumed - this.granted;
    if (this.ungranted <= 0 || this.remoteFin) return;
    if (this.ungranted >= DEFAULT_WINDOW / 4 || this.readableLength === 0) {
      this.granted += this.ungranted;
      this.session.grant(this.id, this.ungranted);
      this.ungranted = 0;
    }
  }

  private maybeForget(): void {
    if (this.localFin && this.remoteFin) this.session.forget(this.id);
  }
}

export interface SpdySessionOptions {
  /** 'server' answers streams the peer opens (odd ids); 'client' opens them (tests). */
  role: 'server' | 'client';
  log?: Logger;
  /** Bytes that arrived with the upgrade request, before the socket was handed over. */
  head?: Buffer;
  /**
   * false: behave like Go's spdystream (never grant window, never wait for it). Only tests
   * use it, to play kubelet's side.
   */
  flowControl?: boolean;
}

/**
 * A SPDY/3.1 session over an upgraded connection: frames in and out, header compression,
 * stream table, PING answers and flow control. Events: 'stream' (SpdyStream the peer opened),
 * 'close' (once; the connection is gone).
 *
 * Flow control: the receive side always grants window as readers consume. The send side
 * honours the peer's windows once the peer shows it speaks SPDY/3.1 flow control (it sends a
 * WINDOW_UPDATE or an INITIAL_WINDOW_SIZE setting). Go's spdystream, which kubelet and
 * kubectl use, does neither and never grants window; holding data back from it after 64 KiB
 * would stall every large exec, so with such a peer the windows are not enforced.
 */
export class SpdySession extends EventEmitter {
  private readonly reader = new FrameReader();
  private readonly deflate = new HeaderCompressor();
  private readonly inflate = new HeaderDecompressor();
  private readonly streams = new Map<number, SpdyStream>();
  /** Incoming frames are handled one at a time (header blocks inflate asynchronously). */
  private inChain: Promise<void> = Promise.resolve();
  /** Outgoing frames leave in order (header blocks deflate asynchronously). */
  private outChain: Promise<void> = Promise.resolve();
  private nextId: number;
  private initialSendWindow = DEFAULT_WINDOW;
  private sessionSendWindow = DEFAULT_WINDOW;
  /** Has the peer shown it does flow control (see the class comment)? */
  private peerFlowControl = false;
  private windowWaiters: Array<() => void> = [];
  private closed = false;
  private goingAway = false;
  private lastPeerStream = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly opts: SpdySessionOptions,
  ) {
    super();
    this.nextId = opts.role === 'client' ? 1 : 2;
    const onData = (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk);
      } catch (e) {
        this.opts.log?.debug({ err: e }, 'spdy: bad frame; closing the session');
        this.sendRaw({ type: 'goaway', lastGoodStreamId: this.lastPeerStream, status: 1 });
        void this.close();
        return;
      }
      for (const f of frames) this.inChain = this.inChain.then(() => this.handle(f)).catch((e) => {
        this.opts.log?.debug({ err: e }, 'spdy: frame handling failed; closing the session');
        this.destroy();
      });
    };
    socket.on('data', onData);
    if (opts.head?.length) onData(opts.head);
    socket.resume();
    // The peer's end is handled after the frames read before it (their handling is async).
    const gone = () => {
      this.inChain = this.inChain.then(() => this.destroy(true));
    };
    socket.on('error', gone);
    socket.on('close', gone);
    socket.on('end', gone);
  }

  /** Open a stream (client role). Resolves with it once the peer replied. */
  async openStream(headers: SpdyHeaders, fin = false): Promise<SpdyStream> {
    if (this.closed) throw E.CriStreamProtocol('the SPDY session is closed');
    const id = this.nextId;
    this.nextId += 2;
    const s = new SpdyStream(this, id, headers, this.initialSendWindow);
    this.streams.set(id, s);
    const replied = new Promise<void>((resolve, reject) => {
      s.once('reply', () => resolve());
      const early = () => reject(E.CriStreamProtocol(`SPDY stream ${id} was closed before its reply`));
      s.once('close', early);
      s.once('gone', early);
    });
    replied.catch(() => undefined);
    await this.sendHeaders((block) => ({ type: 'syn_stream', streamId: id, associatedId: 0, priority: 0, slot: 0, fin, unidirectional: false, block }), headers);
    await replied;
    return s;
  }

  /** Announce settings (a client that does flow control says so this way). */
  settings(entries: Array<{ id: number; value: number }>): void {
    this.sendRaw({ type: 'settings', clear: false, entries: entries.map((e) => ({ flags: 0, ...e })) });
  }

  /** Send a PING and resolve when it comes back. */
  ping(): Promise<void> {
    const id = this.nextId;
    this.nextId += 2;
    return new Promise((resolve) => {
      this.once(`pong:${id}`, resolve);
      this.sendRaw({ type: 'ping', id });
    });
  }

  /** Politely end the session: GOAWAY, then close once queued frames are out. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.goingAway) {
      this.goingAway = true;
      this.sendRaw({ type: 'goaway', lastGoodStreamId: this.lastPeerStream, status: 0 });
    }
    await this.outChain.catch(() => undefined);
    // Let the socket flush what was queued before dropping it (destroy discards pending writes).
    await new Promise<void>((resolve) => {
      if (this.socket.destroyed || this.socket.writableFinished) return resolve();
      const t = setTimeout(resolve, 5000);
      this.socket.end(() => {
        clearTimeout(t);
        resolve();
      });
    });
    this.destroy();
  }

  /**
   * Drop the connection now. Idempotent. `peerGone`: the connection ended from the other side;
   * streams keep what they received for their readers instead of being destroyed.
   */
  destroy(peerGone = false): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) {
      if (peerGone) s.onSessionGone();
      else s.destroy();
    }
    this.streams.clear();
    for (const w of this.windowWaiters.splice(0)) w();
    this.deflate.close();
    this.inflate.close();
    this.socket.destroy();
    this.emit('close');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal Queue a frame without header block. */
  sendRaw(f: Frame): void {
    void this.enqueue(() => Promise.resolve(encodeFrame(f))).catch(() => undefined);
  }

  /** @internal Queue a frame whose header block is compressed in order. */
  sendHeaders(frame: (block: Buffer) => Frame, headers: SpdyHeaders): Promise<void> {
    const block = this.deflate.compress(headers);
    return this.enqueue(async () => encodeFrame(frame(await block)));
  }

  /** @internal Send stream data within the windows (see the class comment). */
  async sendData(s: SpdyStream, data: Buffer, fin: boolean): Promise<void> {
    let off = 0;
    do {
      if (this.closed || s.destroyed) throw E.CriStreamProtocol(`SPDY stream ${s.id} is closed`);
      let n = Math.min(data.length - off, MAX_DATA_FRAME);
      if (this.peerFlowControl && this.opts.flowControl !== false && n > 0) {
        while (!this.closed && (s.sendWindow <= 0 || this.sessionSendWindow <= 0)) {
          await new Promise<void>((r) => this.windowWaiters.push(r));
        }
        n = Math.min(n, s.sendWindow, this.sessionSendWindow);
      }
      s.sendWindow -= n;
      this.sessionSendWindow -= n;
      const chunk = data.subarray(off, off + n);
      off += n;
      const last = off >= data.length;
      await this.enqueue(() => Promise.resolve(encodeFrame({ type: 'data', streamId: s.id, fin: fin && last, data: chunk })));
    } while (off < data.length);
  }

  /** @internal Grant the peer window on a stream and on the session. */
  grant(streamId: number, delta: number): void {
    if (this.closed || delta <= 0 || this.opts.flowControl === false) return;
    this.sendRaw({ type: 'window_update', streamId, delta });
    this.sendRaw({ type: 'window_update', streamId: 0, delta });
  }

  /** @internal A stream is done both ways. */
  forget(id: number): void {
    this.streams.delete(id);
  }

  private enqueue(make: () => Promise<Buffer>): Promise<void> {
    const p = this.outChain.then(async () => {
      if (this.closed) throw E.CriStreamProtocol('the SPDY session is closed');
      const buf = await make();
      if (!this.socket.write(buf)) await new Promise<void>((r) => {
        const done = () => {
          this.socket.off('drain', done);
          this.off('close', done);
          r();
        };
        this.socket.on('drain', done);
        this.once('close', done);
      });
    });
    this.outChain = p.catch(() => undefined);
    return p;
  }

  private wakeWriters(): void {
    for (const w of this.windowWaiters.splice(0)) w();
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    switch (f.type) {
      case 'syn_stream': {
        const headers = await this.inflate.decompress(f.block);
        const peerOpens = this.opts.role === 'server' ? f.streamId % 2 === 1 : f.streamId % 2 === 0;
        if (!peerOpens || f.streamId <= this.lastPeerStream || this.goingAway) {
          this.sendRaw({ type: 'rst_stream', streamId: f.streamId, status: this.goingAway ? RstStatus.REFUSED_STREAM : RstStatus.PROTOCOL_ERROR });
          return;
        }
        this.lastPeerStream = f.streamId;
        const s = new SpdyStream(this, f.streamId, headers, this.initialSendWindow);
        this.streams.set(f.streamId, s);
        if (f.fin || f.unidirectional) s.onRemoteFin();
        this.emit('stream', s);
        return;
      }
      case 'syn_reply': {
        const headers = await this.inflate.decompress(f.block);
        const s = this.streams.get(f.streamId);
        s?.emit('reply', headers);
        if (f.fin) s?.onRemoteFin();
        return;
      }
      case 'headers': {
        await this.inflate.decompress(f.block);
        if (f.fin) this.streams.get(f.streamId)?.onRemoteFin();
        return;
      }
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) return this.sendRaw({ type: 'rst_stream', streamId: f.streamId, status: RstStatus.INVALID_STREAM });
        s.onData(f.data, f.fin);
        return;
      }
      case 'rst_stream':
        this.streams.get(f.streamId)?.destroy();
        return;
      case 'settings':
        for (const e of f.entries) {
          if (e.id !== SETTINGS_INITIAL_WINDOW_SIZE) continue;
          const delta = e.value - this.initialSendWindow;
          this.initialSendWindow = e.value;
          for (const s of this.streams.values()) s.sendWindow += delta;
          this.peerFlowControl = true;
        }
        this.wakeWriters();
        return;
      case 'ping': {
        const ours = (f.id % 2 === 1) === (this.opts.role === 'client');
        if (ours) this.emit(`pong:${f.id}`);
        else this.sendRaw(f);
        return;
      }
      case 'goaway':
        this.goingAway = true;
        if (this.streams.size === 0) void this.close();
        return;
      case 'window_update': {
        this.peerFlowControl = true;
        if (f.streamId === 0) this.sessionSendWindow += f.delta;
        else {
          const s = this.streams.get(f.streamId);
          if (s) s.sendWindow += f.delta;
        }
        this.wakeWriters();
        return;
      }
    }
  }
}
