/**
 * close() promises that calls in flight fail with CLIENT_CLOSED. Found by review: a call
 * waiting for its partition to get a primary (the table names none) looped, sleeping and
 * refreshing, until its own deadline and failed TIMEOUT, outliving close() by seconds and
 * keeping timers and the process alive.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { connect } from '../../src/client/index.js';
import type { StatehouseError } from '../../src/core/errors.js';
import {
  FrameDecoder,
  decodeRequest,
  encodeOk,
  frameBatch,
  isBadMessage,
} from '../../src/protocol/index.js';

test('a call waiting for a partition to get a primary fails CLIENT_CLOSED as soon as the client closes', async (t) => {
  const sockets = new Set<Socket>();
  // A node whose one partition has no primary now.
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (body) => {
        const request = decodeRequest(body);
        if (isBadMessage(request)) return;
        const self = `127.0.0.1:${(server.address() as { port: number }).port}`;
        const result =
          request.kind === 'hello'
            ? {
                protocol: 1,
                nodeId: 'a',
                partitionCount: 1,
                keyBytesMax: 1024,
                valueBytesMax: 1 << 20,
                epoch: 1,
              }
            : request.kind === 'table'
              ? {
                  epoch: 1,
                  partitionCount: 1,
                  nodes: [{ id: 'a', address: self }],
                  primaries: [-1],
                }
              : null;
        if (result !== null) socket.write(frameBatch([encodeOk(request.id, result)]));
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const client = await connect({
    seeds: `127.0.0.1:${(server.address() as { port: number }).port}`,
  });

  const call = client.get('k', { timeoutMs: 5_000 }).then(
    () => null,
    (error: StatehouseError) => error,
  );
  await new Promise((r) => setTimeout(r, 200));
  const closedAt = Date.now();
  await client.close();
  const error = await call;
  const afterCloseMs = Date.now() - closedAt;
  assert.ok(afterCloseMs < 1_000, `the call settled ${afterCloseMs} ms after close()`);
  assert.equal(error?.code, 'CLIENT_CLOSED');
});
