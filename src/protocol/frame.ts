/**
 * Framing: how a byte stream becomes messages.
 *
 * Every message is one frame: a 4-byte big-endian unsigned length, then that many bytes of
 * MessagePack body. The length comes first so that a reader knows how much to wait for
 * without parsing, and can refuse an oversized frame before buffering a byte of it.
 *
 * The decoder keeps the chunks it was given and copies only when a frame spans chunks, so
 * the common case (many small frames inside one TCP read) allocates nothing but views.
 * Once the stream is broken (a frame larger than allowed) the decoder stops: no later byte
 * can be trusted to start a frame, so the caller must close the connection.
 */
import { ErrorCode } from '../core/errors.js';

export const frameHeaderBytes = 4;

export type FrameError = { readonly code: typeof ErrorCode.TOO_LARGE; readonly message: string };

export class FrameDecoder {
  private readonly frameBytesMax: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private broken: FrameError | null = null;

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Adds received bytes; calls `onFrame` for each complete frame body, in order. Returns an
   * error once a frame is oversized; after that the decoder accepts nothing more. The body
   * passed to `onFrame` may be a view into `chunk`: use it before returning or copy it.
   */
  push(chunk: Buffer, onFrame: (body: Buffer) => void): FrameError | null {
    if (this.broken) return this.broken;
    if (this.buffered === 0) {
      // Fast path: parse straight out of the chunk, keep only a partial tail.
      let offset = 0;
      while (chunk.length - offset >= frameHeaderBytes) {
        const length = chunk.readUInt32BE(offset);
        if (length > this.frameBytesMax) return this.fail(length);
        const end = offset + frameHeaderBytes + length;
        if (end > chunk.length) break;
        onFrame(chunk.subarray(offset + frameHeaderBytes, end));
        offset = end;
      }
      if (offset < chunk.length) {
        // A partial frame may sit for a while: copy it so the big read buffer can be freed.
        const rest = Buffer.from(chunk.subarray(offset));
        this.chunks.push(rest);
        this.buffered = rest.length;
      }
      return null;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= frameHeaderBytes) {
      const head = this.peekHeader();
      if (head > this.frameBytesMax) return this.fail(head);
      if (this.buffered < frameHeaderBytes + head) break;
      const all =
        this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
      // Hand the rest back through the fast path, which handles any number of frames.
      return this.push(all, onFrame);
    }
    return null;
  }

  private peekHeader(): number {
    const first = this.chunks[0]!;
    if (first.length >= frameHeaderBytes) return first.readUInt32BE(0);
    const head = Buffer.concat(this.chunks, Math.min(this.buffered, 16));
    return head.readUInt32BE(0);
  }

  private fail(length: number): FrameError {
    this.chunks = [];
    this.buffered = 0;
    this.broken = {
      code: ErrorCode.TOO_LARGE,
      message: `frame of ${length} bytes exceeds the limit of ${this.frameBytesMax} bytes`,
    };
    return this.broken;
  }
}

/** Frames a batch of encoded bodies into one buffer, ready for a single socket write. */
export function frameBatch(bodies: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const body of bodies) total += frameHeaderBytes + body.length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const body of bodies) {
    out.writeUInt32BE(body.length, offset);
    out.set(body, offset + frameHeaderBytes);
    offset += frameHeaderBytes + body.length;
  }
  return out;
}
