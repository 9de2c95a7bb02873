/**
 * Found by the chaos run (npm run chaos: a write reported failed, definitely, was read back
 * afterwards, and the linearizability checker refused the history).
 *
 * A primary that applied a sync write and lost its epoch before the backups acknowledged it
 * answers UNAVAILABLE or NOT_PRIMARY: the write may survive on a promoted backup. The client
 * retried, as it should, but when the retries ran out it reported TIMEOUT with inDoubt false,
 * which tells the application the write did not happen. The reply now says `inDoubt` in its
 * meta, and the client carries it to the error it ends with.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { connect } from '../../src/client/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import {
  FrameDecoder,
  decodeRequest,
  encodeError,
  encodeOk,
  frameBatch,
  isBadMessage,
} from '../../src/protocol/index.js';

/**
 * A one-partition fake node that answers every command UNAVAILABLE, the first one with
 * `inDoubt` in its meta when `firstInDoubt`.
 */
async function fakeNode(t: TestContext, firstInDoubt: boolean): Promise<string> {
  let commands = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder(1 << 20);
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (body) => {
        const request = decodeRequest(body);
        if (isBadMessage(request)) return;
        const reply =
          request.kind === 'hello'
            ? encodeOk(request.id, {
                protocol: 1,
                nodeId: 'fake',
                partitionCount: 1,
                keyBytesMax: 1024,
                valueBytesMax: 1 << 20,
                epoch: 1,
              })
            : request.kind === 'table'
              ? encodeOk(request.id, {
                  epoch: 1,
                  partitionCount: 1,
                  nodes: [{ id: 'fake', address }],
                  primaries: [0],
                })
              : encodeError(request.id, {
                  code: 'UNAVAILABLE',
                  message: 'partition 0 moved to epoch 2 before the write was acknowledged',
                  meta: {
                    partition: 0,
                    epoch: 2,
                    ...(commands++ === 0 && firstInDoubt && { inDoubt: true }),
                  },
                });
        socket.write(frameBatch([reply]));
      }),
    );
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

test('a write failed by an epoch change and then refused until the deadline ends in doubt', async (t) => {
  const client = await connect({ seeds: await fakeNode(t, true), timeoutMs: 400 });
  t.after(() => client.close());
  await assert.rejects(
    client.set('k', 1),
    (e: unknown) => e instanceof StatehouseError && e.code === 'TIMEOUT' && e.inDoubt,
  );
});

test('a write refused every time, never applied, ends failed and not in doubt', async (t) => {
  const client = await connect({ seeds: await fakeNode(t, false), timeoutMs: 400 });
  t.after(() => client.close());
  await assert.rejects(
    client.set('k', 1),
    (e: unknown) => e instanceof StatehouseError && e.code === 'TIMEOUT' && !e.inDoubt,
  );
});
