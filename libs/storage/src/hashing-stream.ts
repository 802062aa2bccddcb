import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * A pass-through that computes the sha256 ("sha256:<hex>") and length of what flows through it;
 * used to verify a layer's diff ID while it is being unpacked. Internal to libs/storage.
 */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private total = 0;
  private result: string | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.total += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = 'sha256:' + this.hash.digest('hex');
    cb();
  }

  /** The digest; only valid once the stream has ended. */
  get digest(): string | undefined {
    return this.result;
  }

  get bytes(): number {
    return this.total;
  }
}
