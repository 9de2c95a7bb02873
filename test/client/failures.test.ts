import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { startNode } from '../../src/node/index.js';
import { connect, type Client } from '../../src/client/index.js';
import type { StatehouseError } from '../../src/core/errors.js';

test('connecting to an address where nothing listens fails with UNAVAILABLE in time', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const started = Date.now();
  await assert.rejects(
    connect({ seeds: `127.0.0.1:${port}`, timeoutMs: 300, connectTimeoutMs: 200 }),
    (e: StatehouseError) => e.code === 'UNAVAILABLE',
  );
  assert.ok(Date.now() - started < 3_000);
});

test('bad seeds are refused with a message naming the form', async () => {
  await assert.rejects(connect({ seeds: 'localhost' }), /host:port/);
  await assert.rejects(connect({ seeds: [] }), /at least one/);
});

test('a node that stops answering makes a read fail with TIMEOUT, not in doubt', async (t) => {
  const node = await startNode({ port: 0 });
  const client = await connect({ seeds: node.address, timeoutMs: 400 });
  t.after(async () => {
    await client.close();
    await node.close();
  });
  await client.set('k', 1);
  // Freeze the node's event loop path: a server that accepts and never answers takes its place.
  await node.close();
  const silent = createServer((s: Socket) => s.on('data', () => undefined));
  await new Promise<void>((r) => silent.listen(node.port, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => silent.close(() => r())));
  await assert.rejects(client.get('k'), (e: StatehouseError) => e.code === 'TIMEOUT' && !e.inDoubt);
});

test('a write whose connection dies after sending ends in TIMEOUT with inDoubt', async (t) => {
  // A fake node that completes the handshake, then swallows one write and closes.
  const { FrameDecoder, decodeRequest, encodeOk, frameBatch, isBadMessage } =
    await import('../../src/protocol/index.js');
  const server = createServer((socket) => {
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (body) => {
        const request = decodeRequest(body);
        if (isBadMessage(request)) return;
        if (request.kind === 'hello') {
          socket.write(
            frameBatch([
              encodeOk(request.id, {
                protocol: 1,
                nodeId: 'fake',
                partitionCount: 1,
                keyBytesMax: 1024,
                valueBytesMax: 1 << 20,
                epoch: 1,
              }),
            ]),
          );
        } else if (request.kind === 'table') {
          const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
          socket.write(
            frameBatch([
              encodeOk(request.id, {
                epoch: 1,
                partitionCount: 1,
                nodes: [{ id: 'fake', address }],
                primaries: [0],
              }),
            ]),
          );
        } else {
          socket.destroy();
        }
      }),
    );
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const client: Client = await connect({
    seeds: `127.0.0.1:${(server.address() as { port: number }).port}`,
    timeoutMs: 500,
  });
  t.after(() => client.close());
  await assert.rejects(
    client.set('k', 1),
    (e: StatehouseError) => e.code === 'TIMEOUT' && e.inDoubt,
  );
});

test('the client reconnects by itself when the node comes back on the same address', async (t) => {
  const first = await startNode({ port: 0 });
  const port = first.port;
  const client = await connect({ seeds: first.address, timeoutMs: 3_000 });
  t.after(() => client.close());
  await client.set('k', 'before');
  await first.close();
  const second = await startNode({ port });
  t.after(() => second.close());
  await client.set('k', 'after');
  assert.equal(await client.get('k'), 'after');
});

test('calls on a closed client fail with CLIENT_CLOSED', async (t) => {
  const node = await startNode({ port: 0 });
  t.after(() => node.close());
  const client = await connect({ seeds: node.address });
  await client.close();
  await assert.rejects(client.get('k'), (e: StatehouseError) => e.code === 'CLIENT_CLOSED');
});

test('closing a node with clients connected finishes promptly', async () => {
  const node = await startNode({ port: 0 });
  const clients = await Promise.all([1, 2, 3].map(() => connect({ seeds: node.address })));
  await Promise.all(clients.map((c) => c.set('k', 1)));
  const started = Date.now();
  await node.close();
  assert.ok(Date.now() - started < 2_500);
  await Promise.all(clients.map((c) => c.close()));
});
