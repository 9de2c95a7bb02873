/**
 * Every command a connection takes gets exactly one answer, and an answer that comes after
 * the connection ended is dropped without harming the replies already on their way. The
 * node here is a ClientConnection on a real loopback socket with a fake data plane:
 * `boom` is answered and then throws (a bug), `sync-*` waits for the test to answer it (a
 * sync write waiting for its backups), `big` is answered at once with an 8 MiB value.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { ClientConnection, type ConnectionContext } from '../../src/node/client-connection.js';
import { silentLogger } from '../../src/node/logger.js';
import type { Outcome } from '../../src/store/index.js';
import type { CommandRequest, Request } from '../../src/protocol/index.js';
import { RawConnection, helloThen } from '../helpers/raw-connection.js';

const bigValue = new Uint8Array(8 * 1024 * 1024).fill(7);
const setDone: Outcome = { ok: true, result: { op: 'set', version: 2 } };

async function fakeNode(t: TestContext): Promise<{
  port: number;
  connections: ClientConnection[];
  waiting: { connection: ClientConnection; wireId: number }[];
}> {
  const connections: ClientConnection[] = [];
  const waiting: { connection: ClientConnection; wireId: number }[] = [];
  const context = {
    plane: { nodeId: 'n1', partitionCount: 16, epoch: 1 },
    data: {
      execute(connection: ClientConnection, wireId: number, request: CommandRequest): void {
        const key = request.command.key;
        if (key === 'boom') {
          connection.answer(wireId, { ok: true, result: { op: 'delete', deleted: true } });
          throw new Error('a bug after the answer');
        }
        if (key.startsWith('sync')) {
          waiting.push({ connection, wireId });
          return;
        }
        const entry = { value: bigValue, version: 1, expiresAt: 0 };
        connection.answer(wireId, { ok: true, result: { op: 'get', entry } });
      },
    },
    logger: silentLogger,
    warnLimited: () => undefined,
    frameBytesMax: 1 << 26,
    keyBytesMax: 1024,
    valueBytesMax: 1 << 26,
    tokenDigest: null,
    clusterTokenDigest: null,
    handshakeTimeoutMs: 60_000,
  } as unknown as ConnectionContext;
  const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    connections.push(new ClientConnection(socket, context, () => undefined));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const connection of connections) connection.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, connections, waiting };
}

const get = (id: number, key: string): Request => ({
  kind: 'command',
  id,
  command: { op: 'get', key },
});
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('a command that fails after it was answered is answered once, and a sync write after it still is', async (t) => {
  const node = await fakeNode(t);
  const client = await RawConnection.open(node.port);
  t.after(() => client.close());
  client.end(helloThen('c', [get(1, 'boom'), get(2, 'sync-a')]));
  await pause(200);
  for (const { connection, wireId } of node.waiting.splice(0)) connection.answer(wireId, setDone);
  await client.waitClosed(3_000);
  assert.deepEqual(client.outcomes(), ['0:ok', '1:ok', '2:ok']);
});

test('an answer that comes after the connection ended is dropped, and the replies queued before it arrive whole', async (t) => {
  const node = await fakeNode(t);
  const client = await RawConnection.open(node.port);
  t.after(() => client.close());
  client.pause(); // the 8 MiB reply waits in the node's socket
  client.writeBytes(helloThen('c', [get(1, 'sync-a'), get(2, 'big')]));
  await pause(200);
  node.connections[0]!.end(); // what closing the node does
  for (const { connection, wireId } of node.waiting.splice(0)) connection.answer(wireId, setDone);
  client.resume();
  await client.waitClosed(3_000);
  assert.deepEqual(client.outcomes(), ['0:ok', '2:ok']);
});
