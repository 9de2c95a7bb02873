/**
 * A connection that stopped taking requests (64 of its commands forwarded and unanswered)
 * takes them up again once answers come back, also when those answers sit a while in a
 * socket the client is slow to read. The socket here is a Duplex that behaves as a TCP
 * socket's writable side does: write() reports backpressure only past the high-water mark,
 * and 'drain' follows only such a write; a "kernel" that can be full holds written chunks.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { ClientConnection, type ConnectionContext } from '../../src/node/client-connection.js';
import { silentLogger } from '../../src/node/logger.js';
import { forwardsPendingMax } from '../../src/core/limits.js';
import { helloThen } from '../helpers/raw-connection.js';

class SlowReaderSocket extends Duplex {
  /** While true, written chunks wait, as in a full kernel buffer. */
  full = false;
  private waiting: (() => void)[] = [];
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 1;

  constructor() {
    super({ writableHighWaterMark: 16 * 1024, allowHalfOpen: true });
  }

  setNoDelay(): this {
    return this;
  }

  override _read(): void {}

  override _write(_chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    if (this.full) this.waiting.push(done);
    else done();
  }

  /** The client reads everything. */
  readAll(): void {
    this.full = false;
    const waiting = this.waiting;
    this.waiting = [];
    for (const done of waiting) done();
  }
}

test('a connection held by its forwarded commands resumes once they are answered, though the client read late', async () => {
  const socket = new SlowReaderSocket();
  const forwarded: number[] = [];
  // Every command is forwarded (this node is never the primary); answers come from the test.
  const context = {
    plane: { nodeId: 'n1', partitionCount: 16, epoch: 1 },
    data: {
      execute(connection: ClientConnection, wireId: number): void {
        forwarded.push(wireId);
        connection.forwardStarted();
      },
    },
    logger: silentLogger,
    frameBytesMax: 1 << 22,
    keyBytesMax: 1024,
    valueBytesMax: 1 << 20,
    tokenDigest: null,
    clusterTokenDigest: null,
    handshakeTimeoutMs: 60_000,
  } as unknown as ConnectionContext;
  const connection = new ClientConnection(socket as unknown as Socket, context, () => undefined);
  const total = forwardsPendingMax + 6;
  socket.push(
    helloThen(
      'c',
      Array.from({ length: total }, (_, i) => ({
        kind: 'command' as const,
        id: i + 1,
        command: { op: 'get' as const, key: 'k' },
        forward: true,
      })),
    ),
  );

  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(forwarded.length, forwardsPendingMax, 'held at the cap');

  // The answers arrive while the client is not reading: a few KiB wait in the socket, below
  // the high-water mark, so no 'drain' will follow them.
  socket.full = true;
  for (const wireId of forwarded.splice(0)) {
    connection.relay(wireId, { id: 0, ok: true, result: 'v' });
    await new Promise((resolve) => setImmediate(resolve));
  }
  socket.readAll();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(forwarded.length, total - forwardsPendingMax, 'the held requests were taken up');
});
