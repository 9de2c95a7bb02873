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
  private frameBytesMax: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private broken: FrameError | null = null;
  private held = false;

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  /**
   * Allows frames up to `frameBytesMax` from now on (never lowers the limit): a connection
   * that proved to be a peer link carries replication frames, larger than a client's. Called
   * from `onFrame`, it applies to the frames after the current one.
   */
  raiseLimit(frameBytesMax: number): void {
    if (frameBytesMax > this.frameBytesMax) this.frameBytesMax = frameBytesMax;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** True after `onFrame` returned false: frames wait, unread, until `resume`. */
  get holding(): boolean {
    return this.held;
  }

  /** Takes up the frames held back since `onFrame` returned false. */
  resume(onFrame: (body: Buffer) => unknown): FrameError | null {
    this.held = false;
    if (this.broken) return this.broken;
    if (this.buffered === 0) return null;
    const all =
      this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return this.push(all, onFrame);
  }

  /**
   * Adds received bytes; calls `onFrame` for each complete frame body, in order. Returns an
   * error once a frame is oversized; after that the decoder accepts nothing more. The body
   * passed to `onFrame` may be a view into `chunk`, or into a buffer the decoder joined
   * chunks into; the decoder never writes to either again, so a view may be kept, at the
   * price of keeping the whole buffer alive (the node keeps a write's value bytes this way
   * until its backups acknowledge it, then copies what it stores). When `onFrame` returns
   * false, the frames after that one wait, with every later chunk, until `resume`: a reader
   * whose replies pile up unread stops taking requests mid-chunk.
   */
  push(chunk: Buffer, onFrame: (body: Buffer) => unknown): FrameError | null {
    if (this.broken) return this.broken;
    if (this.held) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      return null;
    }
    if (this.buffered === 0) {
      // Fast path: parse straight out of the chunk, keep only a partial tail.
      let offset = 0;
      while (chunk.length - offset >= frameHeaderBytes) {
        const length = chunk.readUInt32BE(offset);
        if (length > this.frameBytesMax) return this.fail(length);
        const end = offset + frameHeaderBytes + length;
        if (end > chunk.length) break;
        const more = onFrame(chunk.subarray(offset + frameHeaderBytes, end));
        offset = end;
        if (more === false) {
          this.held = true;
          break;
        }
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

/**
 * Frames batches for one socket into a buffer it keeps and reuses, instead of a new buffer
 * per batch: a batch of replicated writes is several KiB, beyond Node's pooled small
 * buffers, so each one was a fresh ArrayBuffer to allocate, track and free (and on this
 * project's VM, memory management was a larger share of a node's CPU than the protocol).
 *
 * The buffer may be written over only once the socket no longer needs it: after
 * `socket.write(batch)`, call `written(socket.writableLength === 0)`. Node tries the write at
 * once and, when the kernel takes it all, keeps no reference to the buffer and leaves
 * nothing queued; when anything is queued (a partial write, a socket still connecting) the
 * buffer may still be read later, so it is given up and the next batch gets a new one.
 */
export class FrameWriter {
  private buffer: Buffer | null = null;
  private lent = false;

  /** The bodies framed into one buffer, ready for a single socket write. */
  batch(bodies: readonly Uint8Array[]): Buffer {
    let total = 0;
    for (const body of bodies) total += frameHeaderBytes + body.length;
    let buffer = this.buffer;
    if (buffer === null || this.lent || buffer.length < total) {
      // 64 KiB covers a turn's batch to one socket in the common case; larger ones get their
      // own buffer, which is then kept for the next batch.
      buffer = Buffer.allocUnsafeSlow(Math.max(total, writerBufferBytes));
      this.buffer = buffer;
    }
    this.lent = true;
    let offset = 0;
    for (const body of bodies) {
      buffer.writeUInt32BE(body.length, offset);
      buffer.set(body, offset + frameHeaderBytes);
      offset += frameHeaderBytes + body.length;
    }
    return buffer.subarray(0, total);
  }

  /** The last batch was written; `released`: the socket keeps no reference to it. */
  written(released: boolean): void {
    if (released) this.lent = false;
    else this.buffer = null;
  }
}

/** The buffer a FrameWriter keeps: see there. */
const writerBufferBytes = 64 * 1024;
