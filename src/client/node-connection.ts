/**
 * One client-side connection to one node, shared by every caller that routes there.
 *
 * Pipelining: each request gets an id and goes out at once; replies are matched by id, in
 * whatever order they come. Requests issued in the same turn of the event loop leave in one
 * socket write (flushed by setImmediate, which runs after every promise continuation of the
 * turn has issued its request), so a thousand concurrent callers cost a handful of syscalls.
 *
 * The connection never retries by itself. When it drops, every request in flight fails with
 * CONNECTION_CLOSED and the caller (client.ts) decides: reads go again, writes go again with
 * the same idempotency id. The next request reconnects, unless the last attempt failed less
 * than a backoff ago: then it fails at once with CONNECTION_CLOSED (never sent, so not in
 * doubt), so a dead node is not hammered and a caller is not held up by it.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { parseAddress } from '../core/address.js';
import { ErrorCode, StatehouseError } from '../core/errors.js';
import {
  clientInFlightMax,
  clientQueueMax,
  frameBytesMaxFor,
  valueBytesMaxCeiling,
} from '../core/limits.js';
import {
  FrameDecoder,
  FrameWriter,
  decodeReply,
  encodeRequest,
  frameBatch,
  isBadMessage,
  protocolVersion,
  type HelloResult,
  type Reply,
} from '../protocol/index.js';

export interface ConnectionOptions {
  readonly address: string;
  readonly clientName: string;
  readonly clientId: string;
  readonly token?: string;
  readonly connectTimeoutMs: number;
}

interface Pending {
  readonly encode: (id: number) => Uint8Array;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: StatehouseError) => void;
  readonly deadline: number;
  /** True once the request left in a write: a lost answer then leaves a write in doubt. */
  sent: boolean;
}

/**
 * A batch leaves once it holds this many requests, without waiting for the end of the turn:
 * the node starts on the first requests while the client is still encoding the rest, so the
 * two processes work at once instead of taking turns.
 */
const flushEveryRequests = 16;

const reconnectBackoffMsMin = 25;
const reconnectBackoffMsMax = 1_000;

export class NodeConnection {
  readonly address: string;
  private readonly host: string;
  private readonly port: number;
  private socket: Socket | null = null;
  /** The socket of a handshake in progress: close() must end it too. */
  private handshaking: Socket | null = null;
  private ready = false;
  private connecting: Promise<void> | null = null;
  private closed = false;
  private hello: HelloResult | null = null;
  /** The largest frame the node reads (from its limits in the handshake); it closes on more. */
  private frameBytesMax = 0;
  private fatal: StatehouseError | null = null;
  private nextId = 1;
  private readonly inFlight = new Map<number, Pending>();
  private queue: Pending[] = [];
  private outgoing: Uint8Array[] = [];
  private readonly writer = new FrameWriter();
  private flushScheduled = false;
  private failures = 0;
  private lastFailureAt = 0;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly options: ConnectionOptions) {
    this.address = options.address;
    ({ host: this.host, port: this.port } = parseAddress(options.address));
    // One timer per connection checks deadlines, instead of one timer per request.
    this.sweepTimer = setInterval(() => this.expire(Date.now()), 25);
    this.sweepTimer.unref();
  }

  get helloResult(): HelloResult | null {
    return this.hello;
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Sends a request; resolves with the node's reply, or rejects with a StatehouseError. */
  send(encode: (id: number) => Uint8Array, deadline: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (this.closed) {
        reject(new StatehouseError(ErrorCode.CLIENT_CLOSED, 'the client is closed'));
        return;
      }
      if (this.fatal) {
        reject(this.fatal);
        return;
      }
      const pending: Pending = { encode, resolve, reject, deadline, sent: false };
      if (this.ready && this.inFlight.size < clientInFlightMax) {
        this.dispatch(pending);
        return;
      }
      if (this.queue.length >= clientQueueMax) {
        reject(
          new StatehouseError(
            ErrorCode.OVERLOADED,
            `more than ${clientQueueMax} requests wait for ${this.address}`,
          ),
        );
        return;
      }
      this.queue.push(pending);
      // A failed attempt rejects the queued requests themselves; nothing else to report here.
      if (!this.ready) this.ensureConnected().catch(() => undefined);
    });
  }

  /** Connects and completes the handshake, or rejects with why it could not. */
  async ensureConnected(): Promise<void> {
    if (this.ready) return;
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    // A request in flight was written out: the node may have applied it, answer unread.
    this.failAll(
      new StatehouseError(ErrorCode.CLIENT_CLOSED, 'the client was closed', { inDoubt: true }),
      new StatehouseError(ErrorCode.CLIENT_CLOSED, 'the client was closed'),
    );
    this.socket?.destroy();
    this.socket = null;
    this.handshaking?.destroy();
    this.handshaking = null;
  }

  private async open(): Promise<void> {
    const backoff = Math.min(
      reconnectBackoffMsMax,
      reconnectBackoffMsMin * 2 ** Math.min(this.failures, 10),
    );
    const wait = this.lastFailureAt + backoff - Date.now();
    if (this.failures > 0 && wait > 0) {
      // Not yet: the node failed a moment ago. The requests fail now rather than wait out
      // the backoff, so the caller can go elsewhere (another node for the table, the new
      // primary after a failover) instead of being held up to a second by a dead node.
      const failure = new StatehouseError(
        ErrorCode.CONNECTION_CLOSED,
        `${this.address} failed ${this.failures} time${this.failures === 1 ? '' : 's'} in a row; not reconnecting for ${wait} ms`,
      );
      const queued = this.queue;
      this.queue = [];
      for (const p of queued) p.reject(failure);
      throw failure;
    }
    if (this.closed) return;
    try {
      await this.connectSocket();
      this.failures = 0;
    } catch (error) {
      this.failures++;
      this.lastFailureAt = Date.now();
      const failure =
        error instanceof StatehouseError
          ? error
          : new StatehouseError(
              ErrorCode.CONNECTION_CLOSED,
              `cannot connect to ${this.address}: ${(error as Error).message}`,
              {
                cause: error,
              },
            );
      if (failure.code === ErrorCode.UNAUTHORIZED || failure.code === ErrorCode.PROTOCOL_MISMATCH) {
        this.fatal = failure;
      }
      // Requests queued for this node fail now; the caller retries or reroutes them.
      const queued = this.queue;
      this.queue = [];
      for (const p of queued) p.reject(failure);
      throw failure;
    }
  }

  private connectSocket(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = netConnect({ host: this.host, port: this.port, noDelay: true });
      this.handshaking = socket;
      const decoder = new FrameDecoder(frameBytesMaxFor(64 * 1024, valueBytesMaxCeiling));
      let settled = false;
      const timer = setTimeout(() => {
        fail(
          new StatehouseError(
            ErrorCode.TIMEOUT,
            `no handshake with ${this.address} within ${this.options.connectTimeoutMs} ms`,
          ),
        );
      }, this.options.connectTimeoutMs);
      const fail = (error: StatehouseError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.handshaking === socket) this.handshaking = null;
        socket.destroy();
        reject(error);
      };
      socket.on('error', (error) => {
        if (!settled) {
          fail(
            new StatehouseError(
              ErrorCode.CONNECTION_CLOSED,
              `cannot connect to ${this.address}: ${error.message}`,
              { cause: error },
            ),
          );
        }
      });
      socket.on('close', () => {
        if (!settled) {
          fail(
            new StatehouseError(
              ErrorCode.CONNECTION_CLOSED,
              `${this.address} closed the connection during the handshake`,
            ),
          );
          return;
        }
        if (this.socket === socket) this.onSocketClosed();
      });
      socket.on('connect', () => {
        const hello = encodeRequest({
          kind: 'hello',
          id: 0,
          protocol: protocolVersion,
          client: this.options.clientName,
          clientId: this.options.clientId,
          ...(this.options.token !== undefined && { token: this.options.token }),
        });
        socket.write(frameBatch([hello]));
      });
      socket.on('data', (chunk: Buffer) => {
        const broken = decoder.push(chunk, (body) => {
          const reply = decodeReply(body);
          if (isBadMessage(reply)) {
            socket.destroy(new Error(`bad reply from ${this.address}: ${reply.message}`));
            return;
          }
          if (!settled) {
            if (reply.id !== 0) return;
            if (!reply.ok) {
              fail(
                new StatehouseError(
                  reply.error.code,
                  `${this.address} refused the handshake: ${reply.error.message}`,
                ),
              );
              return;
            }
            if (this.closed) {
              fail(new StatehouseError(ErrorCode.CLIENT_CLOSED, 'the client was closed'));
              return;
            }
            settled = true;
            clearTimeout(timer);
            this.handshaking = null;
            this.hello = reply.result as HelloResult;
            this.frameBytesMax = frameBytesMaxFor(this.hello.keyBytesMax, this.hello.valueBytesMax);
            this.socket = socket;
            this.ready = true;
            resolve();
            this.drainQueue();
            return;
          }
          this.onReply(reply);
        });
        if (broken) socket.destroy(new Error(`bad stream from ${this.address}: ${broken.message}`));
      });
    });
  }

  private dispatch(pending: Pending): void {
    let id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    while (this.inFlight.has(id)) id = id >= 0xffffffff ? 1 : id + 1;
    let body: Uint8Array;
    try {
      body = pending.encode(id);
    } catch (error) {
      // A patch operand the codec cannot encode (a BigInt over 64 bits, a symbol, a cycle)
      // is found only here. On a connection that was not ready yet this runs inside the
      // socket's 'data' handler, where a throw would be an uncaught exception in the
      // application: it fails its own call instead, unsent (not in doubt).
      pending.reject(
        new StatehouseError(
          ErrorCode.BAD_REQUEST,
          `the request cannot be encoded: ${error instanceof Error ? error.message : String(error)}; it was not sent`,
        ),
      );
      return;
    }
    if (body.length > this.frameBytesMax) {
      // The node would close the connection on it, failing every other request in flight
      // there, and a retry would do it again: refuse it here, unsent (not in doubt).
      pending.reject(
        new StatehouseError(
          ErrorCode.TOO_LARGE,
          `the request is ${body.length} bytes, over the ${this.frameBytesMax}-byte frame limit of ${this.address} (its keyBytesMax + 2 x valueBytesMax + 64 KiB); it was not sent`,
        ),
      );
      return;
    }
    this.inFlight.set(id, pending);
    this.outgoing.push(body);
    pending.sent = true;
    if (this.outgoing.length >= flushEveryRequests) {
      this.writeOutgoing();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    this.writeOutgoing();
  }

  private writeOutgoing(): void {
    if (this.outgoing.length === 0 || this.socket === null) return;
    const batch = this.writer.batch(this.outgoing);
    this.outgoing.length = 0;
    this.socket.write(batch);
    this.writer.written(this.socket.writableLength === 0);
  }

  private drainQueue(): void {
    while (this.queue.length > 0 && this.ready && this.inFlight.size < clientInFlightMax) {
      this.dispatch(this.queue.shift()!);
    }
  }

  private onReply(reply: Reply): void {
    const pending = this.inFlight.get(reply.id);
    if (pending === undefined) return; // answered after its deadline: already failed
    this.inFlight.delete(reply.id);
    pending.resolve(reply);
    if (this.queue.length > 0) this.drainQueue();
  }

  private onSocketClosed(): void {
    this.ready = false;
    this.socket = null;
    this.outgoing = [];
    this.failures++;
    this.lastFailureAt = Date.now();
    const error = new StatehouseError(
      ErrorCode.CONNECTION_CLOSED,
      `connection to ${this.address} closed`,
      {
        inDoubt: true,
      },
    );
    const inFlight = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const p of inFlight) p.reject(error);
    if (this.queue.length > 0 && !this.closed) void this.ensureConnected().catch(() => undefined);
  }

  private failAll(inFlightError: StatehouseError, queuedError: StatehouseError): void {
    const inFlight = [...this.inFlight.values()];
    this.inFlight.clear();
    const queued = this.queue;
    this.queue = [];
    for (const p of inFlight) p.reject(inFlightError);
    for (const p of queued) p.reject(queuedError);
  }

  private expire(now: number): void {
    for (const [id, p] of this.inFlight) {
      if (p.deadline <= now) {
        this.inFlight.delete(id);
        p.reject(
          new StatehouseError(ErrorCode.TIMEOUT, `no answer from ${this.address} in time`, {
            inDoubt: true,
          }),
        );
      }
    }
    if (this.queue.length > 0 && this.queue.some((p) => p.deadline <= now)) {
      const keep: Pending[] = [];
      for (const p of this.queue) {
        if (p.deadline <= now)
          p.reject(
            new StatehouseError(ErrorCode.TIMEOUT, `could not reach ${this.address} in time`),
          );
        else keep.push(p);
      }
      this.queue = keep;
    }
  }
}
