/**
 * `timeoutMs` is a call's deadline, retries included. Found by review: a call that needs the
 * partition table joined whatever refresh was already running, and that refresh ran to its
 * own deadline: a call with timeoutMs 300 waited for a refresh started with the client's
 * 5 s default (the background one a call that ended without an answer starts), and with the
 * cluster out of reach took about 5 s.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { connect } from '../../src/client/index.js';
import type { StatehouseError } from '../../src/core/errors.js';
import { startFakeNode } from '../helpers/fake-node.js';

async function deadAddress(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return `127.0.0.1:${port}`;
}

test('a call with a short timeoutMs is not held past it by a refresh with a longer deadline', async (t) => {
  // A node whose table names itself and one more node (down).
  const node = await startFakeNode(t, () => null, { others: [await deadAddress()] });

  // The client's default deadline is 5 s; the calls below ask for 300 ms.
  const client = await connect({ seeds: node.address, connectTimeoutMs: 200 });
  t.after(() => client.close());

  // The cluster goes away.
  await node.stop();

  const first = Date.now();
  await assert.rejects(client.get('k', { timeoutMs: 300 }), (e: StatehouseError) => !!e.code);
  const firstMs = Date.now() - first;

  const second = Date.now();
  await assert.rejects(client.get('k', { timeoutMs: 300 }), (e: StatehouseError) => !!e.code);
  const secondMs = Date.now() - second;

  assert.ok(firstMs < 1_500, `the first call took ${firstMs} ms for a 300 ms deadline`);
  assert.ok(secondMs < 1_500, `the second call took ${secondMs} ms for a 300 ms deadline`);
});
