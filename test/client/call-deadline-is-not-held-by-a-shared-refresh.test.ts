/**
 * `timeoutMs` is a call's deadline, retries included. Found by review: a call that needs the
 * partition table joined whatever refresh was already running, and that refresh ran to its
 * own deadline: a call with timeoutMs 300 waited for a refresh started with the client's
 * 5 s default (the background one a call that ended without an answer starts), and with the
 * cluster out of reach took about 5 s.
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

async function deadAddress(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return `127.0.0.1:${port}`;
}

test('a call with a short timeoutMs is not held past it by a refresh with a longer deadline', async (t) => {
  const other = await deadAddress();
  const sockets = new Set<Socket>();
  // A node whose table names itself and one more node (down).
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (body) => {
        const request = decodeRequest(body);
        if (isBadMessage(request)) return;
        const self = `127.0.0.1:${(server.address() as { port: number }).port}`;
        if (request.kind === 'hello') {
          socket.write(
            frameBatch([
              encodeOk(request.id, {
                protocol: 1,
                nodeId: 'a',
                partitionCount: 1,
                keyBytesMax: 1024,
                valueBytesMax: 1 << 20,
                epoch: 1,
              }),
            ]),
          );
        } else if (request.kind === 'table') {
          socket.write(
            frameBatch([
              encodeOk(request.id, {
                epoch: 1,
                partitionCount: 1,
                nodes: [
                  { id: 'a', address: self },
                  { id: 'b', address: other },
                ],
                primaries: [0],
              }),
            ]),
          );
        }
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;

  // The client's default deadline is 5 s; the calls below ask for 300 ms.
  const client = await connect({ seeds: address, connectTimeoutMs: 200 });
  t.after(() => client.close());

  // The cluster goes away.
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));

  const first = Date.now();
  await assert.rejects(client.get('k', { timeoutMs: 300 }), (e: StatehouseError) => !!e.code);
  const firstMs = Date.now() - first;

  const second = Date.now();
  await assert.rejects(client.get('k', { timeoutMs: 300 }), (e: StatehouseError) => !!e.code);
  const secondMs = Date.now() - second;

  assert.ok(firstMs < 1_500, `the first call took ${firstMs} ms for a 300 ms deadline`);
  assert.ok(secondMs < 1_500, `the second call took ${secondMs} ms for a 300 ms deadline`);
});
