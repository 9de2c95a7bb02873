/**
 * A call that ends without an answer starts a table refresh in the background. close() must
 * end it without it opening a connection afterwards: a socket nothing closes keeps the
 * process alive (the CLI hung after a TIMEOUT).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { startNode } from '../../src/node/index.js';
import { connect } from '../../src/client/index.js';
import type { StatehouseError } from '../../src/core/errors.js';

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

test('close() after a call timed out leaves no connection open, even to a node that answers', async (t) => {
  const frozenNode = await startNode({ port: 0 });
  const liveNode = await startNode({ port: 0 });
  t.after(() => liveNode.close());
  // The live node behind a proxy that counts the connections the client holds open to it.
  const open = new Set<Socket>();
  const proxy = createServer((socket) => {
    open.add(socket);
    const upstream = netConnect(liveNode.port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    const end = (): void => {
      open.delete(socket);
      socket.destroy();
      upstream.destroy();
    };
    socket.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  const proxyPort = await listen(proxy);
  t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

  const client = await connect({
    seeds: [frozenNode.address, `127.0.0.1:${proxyPort}`],
    timeoutMs: 300,
    connectTimeoutMs: 200,
  });
  await client.set('k', 1);
  // The first node freezes: a server that accepts and never answers takes its address.
  await frozenNode.close();
  const silent = createServer((socket) => socket.on('data', () => undefined));
  await listen(silent, frozenNode.port);
  t.after(() => new Promise<void>((resolve) => silent.close(() => resolve())));

  await assert.rejects(client.get('k'), (e: StatehouseError) => e.code === 'TIMEOUT');
  await client.close();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(open.size, 0, 'no connection is left open after close()');
});
