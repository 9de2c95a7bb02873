import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { NodeConnection } from '../../src/client/node-connection.js';
import { StatehouseError } from '../../src/core/errors.js';
import { encodeRequest } from '../../src/protocol/index.js';

// Found by the SIGKILL failover test: after a node died, a client's table refresh first
// asked the dead node, and that request sat in the dead node's reconnect backoff (which grows
// to 1 s while the client retries during failure detection) before the client tried a live
// node. Every partition of the dead node stayed unreachable about a second longer than the
// failover itself took. A connection in backoff must fail its requests at once instead.
test('a request to a node that failed a moment ago fails at once instead of waiting out the reconnect backoff', async (t) => {
  // A "node" that accepts connections and drops them at once: every handshake fails.
  let connections = 0;
  const server = createServer((socket: Socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const connection = new NodeConnection({
    address: `127.0.0.1:${port}`,
    clientName: 'test',
    clientId: 'c1',
    connectTimeoutMs: 5_000,
  });
  t.after(() => connection.close());
  const ping = (id: number): Uint8Array => encodeRequest({ kind: 'ping', id });

  // Fail enough handshakes that the backoff reaches its ceiling of a second.
  while (connections < 6) {
    await connection.send(ping, Date.now() + 10_000).then(
      () => assert.fail('the handshake cannot succeed'),
      (e: StatehouseError) => assert.equal(e.code, 'CONNECTION_CLOSED'),
    );
    await new Promise((r) => setTimeout(r, 10));
  }
  const attempts = connections;

  // With a deadline far away, the request is refused now, without a connection attempt.
  await assert.rejects(
    connection.send(ping, Date.now() + 10_000),
    (e: StatehouseError) =>
      e instanceof StatehouseError &&
      e.code === 'CONNECTION_CLOSED' &&
      !e.inDoubt &&
      /not reconnecting/.test(e.message),
  );
  assert.equal(connections, attempts, 'no connection attempt during the backoff');
});
