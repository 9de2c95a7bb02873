/**
 * A deliberately dumb peer for tests: writes whatever bytes it is told to and collects the
 * replies, so tests can send what a well-behaved client never would.
 */
import { connect, type Socket } from 'node:net';
import {
  FrameDecoder,
  decodeReply,
  encodeRequest,
  frameBatch,
  isBadMessage,
  protocolVersion,
} from '../../src/protocol/index.js';
import type { Reply, Request } from '../../src/protocol/index.js';

/** A hello as a raw client sends it, then `requests`, framed as one write's bytes. */
export function helloThen(clientId: string, requests: readonly Request[]): Buffer {
  return frameBatch([
    encodeRequest({ kind: 'hello', id: 0, protocol: protocolVersion, client: 'raw', clientId }),
    ...requests.map((request) => encodeRequest(request)),
  ]);
}

export class RawConnection {
  readonly replies: Reply[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(1 << 26);
  private waiters: (() => void)[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk, (body) => {
        const reply = decodeReply(body);
        if (!isBadMessage(reply)) this.replies.push(reply);
      });
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Opens a connection and completes the handshake. */
  static async ready(
    port: number,
    clientId = 'raw-client',
    token?: string,
  ): Promise<RawConnection> {
    const raw = await RawConnection.open(port);
    raw.request({
      kind: 'hello',
      id: 0,
      protocol: protocolVersion,
      client: 'raw',
      clientId,
      ...(token && { token }),
    });
    const reply = await raw.reply(0);
    if (!reply.ok) throw new Error(`handshake refused: ${reply.error.code}`);
    return raw;
  }

  /** Writes `bytes` and ends this side; replies still arrive until the node ends its side. */
  end(bytes: Uint8Array): void {
    this.socket.end(bytes);
  }

  /** Stops reading: the node's replies wait in its socket until `resume`. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** The replies received so far, each as `id:ok` or `id:CODE`, in arrival order. */
  outcomes(): string[] {
    return this.replies.map((r) => `${r.id}:${r.ok ? 'ok' : r.error.code}`);
  }

  writeBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  writeFrame(body: Uint8Array): void {
    this.socket.write(frameBatch([body]));
  }

  request(request: Request): void {
    this.writeFrame(encodeRequest(request));
  }

  /** Waits for the reply with this id (or for the connection to close: then rejects). */
  async reply(id: number, timeoutMs = 5_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.replies.findIndex((r) => r.id === id);
      if (index !== -1) return this.replies.splice(index, 1)[0]!;
      if (this.closed) throw new Error(`connection closed before reply ${id}`);
      if (Date.now() > deadline) throw new Error(`no reply ${id} within ${timeoutMs} ms`);
      await this.next(deadline - Date.now());
    }
  }

  /** Waits until the node closes the connection. */
  async waitClosed(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await this.next(deadline - Date.now());
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
