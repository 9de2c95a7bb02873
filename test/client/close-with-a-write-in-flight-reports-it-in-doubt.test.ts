/**
 * close() while a write is in flight: the node applied it, only its answer had not arrived.
 * Found by review: the call failed CLIENT_CLOSED with `inDoubt: false` ("did not happen"),
 * yet the value was there, and the same when close() came while the call waited to retry a
 * write whose first attempt was in doubt. The README promises `inDoubt: true` whenever a
 * write may or may not have taken effect.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { startNode } from '../../src/node/index.js';
import { connect } from '../../src/client/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import { decodeValue } from '../../src/core/value-codec.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { eventually } from '../helpers/cluster.js';

/** A node behind a proxy that can hold the node's answers back, or cut every connection. */
async function nodeBehindProxy(t: TestContext) {
  let holdAnswers = false;
  let swallow = false;
  let nodePort = 0;
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    if (swallow) {
      // Taken, never passed on: the client's handshake waits, its requests stay queued.
      sockets.add(client);
      client.on('error', () => undefined);
      return;
    }
    const upstream = netConnect(nodePort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!holdAnswers) client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxyAddress = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => proxy.close(() => r()));
  });
  // The node advertises the proxy, so the client's table routes through it.
  const node = await startNode({ port: 0, advertise: proxyAddress });
  nodePort = node.port;
  t.after(() => node.close());
  const client = await connect({ seeds: proxyAddress });
  t.after(() => client.close());
  const raw = await RawConnection.ready(node.port, 'observer');
  t.after(() => raw.close());
  let id = 1;
  return {
    client,
    hold: () => (holdAnswers = true),
    /** Breaks every connection; new ones are taken and never passed on. */
    cut: () => {
      swallow = true;
      for (const s of sockets) s.destroy();
    },
    /** Waits until the node holds `value` at `key`, read on a connection of our own. */
    applied: (key: string, value: string) =>
      eventually('the node applied the write', async () => {
        const reqId = id++;
        raw.request({ kind: 'command', id: reqId, command: { op: 'get', key } });
        const reply = await raw.reply(reqId);
        if (!reply.ok || reply.result === null) return false;
        return decodeValue((reply.result as { value: Uint8Array }).value) === value;
      }),
  };
}

function failure(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => null,
    (error: unknown) => error,
  );
}

function assertClosedInDoubt(error: unknown): void {
  assert.ok(error instanceof StatehouseError, `the write should fail, got ${String(error)}`);
  assert.equal(error.code, 'CLIENT_CLOSED');
  assert.equal(error.inDoubt, true, 'the write was applied, yet the error says it was not');
}

test('a write cut off by close() after it was sent is reported in doubt', async (t) => {
  const { client, hold, applied } = await nodeBehindProxy(t);
  await client.set('k', 'before');
  hold();
  const write = failure(client.set('k', 'after'));
  await applied('k', 'after');
  await client.close();
  assertClosedInDoubt(await write);
});

test('a write whose first attempt was in doubt stays in doubt when close() ends its retries', async (t) => {
  const { client, hold, cut, applied } = await nodeBehindProxy(t);
  await client.set('k', 'before');
  hold();
  const write = failure(client.set('k', 'after'));
  await applied('k', 'after');
  // The connection breaks with the answer unread: the client retries on a new connection,
  // whose handshake never completes, and close() finds the retry still queued, unsent.
  cut();
  await new Promise((r) => setTimeout(r, 300));
  await client.close();
  assertClosedInDoubt(await write);
});
