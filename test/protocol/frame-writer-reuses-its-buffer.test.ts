/**
 * FrameWriter (protocol/frame.ts) frames a socket's batches into one buffer it reuses, and
 * gives the buffer up whenever the socket may still read it.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { FrameDecoder, FrameWriter, frameBatch } from '../../src/protocol/index.js';

test('a batch is framed exactly as frameBatch frames it', () => {
  const writer = new FrameWriter();
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 3_000 }), { maxLength: 40 }), (bodies) => {
      const batch = writer.batch(bodies);
      assert.deepEqual(Buffer.from(batch), frameBatch(bodies));
      writer.written(true);
    }),
  );
});

test('the buffer is reused once released, and replaced while it may still be read', () => {
  const writer = new FrameWriter();
  const first = writer.batch([new Uint8Array([1, 2, 3])]);
  writer.written(true);
  const second = writer.batch([new Uint8Array([4])]);
  assert.equal(second.buffer, first.buffer, 'released: the same memory');
  writer.written(false);
  const third = writer.batch([new Uint8Array([5])]);
  assert.notEqual(third.buffer, second.buffer, 'not released: a new buffer');
  assert.deepEqual([...second], [0, 0, 0, 1, 4], 'the lent batch is untouched');
  writer.written(true);
  const large = writer.batch([new Uint8Array(100_000)]);
  assert.notEqual(large.buffer, third.buffer, 'a batch larger than the buffer gets its own');
  assert.equal(large.length, 100_004);
});

test('a batch the kernel has not taken yet is never written over by the next', async (t) => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const [peer] = await accepted;
  t.after(() => {
    socket.destroy();
    peer.destroy();
  });
  // The peer does not read yet, so a batch far larger than the socket buffers stays queued.
  peer.pause();
  const writer = new FrameWriter();
  const big = new Uint8Array(8 << 20).fill(7);
  socket.write(writer.batch([big]));
  const released = socket.writableLength === 0;
  assert.equal(released, false, 'the big batch is still queued');
  writer.written(released);
  socket.write(writer.batch([new Uint8Array(1_000).fill(9)]));
  writer.written(socket.writableLength === 0);
  socket.end();

  const decoder = new FrameDecoder(16 << 20);
  const frames: Buffer[] = [];
  peer.on('data', (chunk: Buffer) => decoder.push(chunk, (body) => frames.push(Buffer.from(body))));
  peer.resume();
  await once(peer, 'end');
  assert.equal(frames.length, 2);
  assert.ok(frames[0]!.length === big.length && frames[0]!.every((b) => b === 7));
  assert.ok(frames[1]!.length === 1_000 && frames[1]!.every((b) => b === 9));
});
