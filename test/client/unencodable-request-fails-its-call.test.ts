/**
 * A patch operand the codec cannot encode (a BigInt beyond 64 bits, a symbol, a cycle) is
 * found only when the request is encoded for its connection. Found by review: on a
 * connection that was not ready yet, that happened inside the socket's 'data' handler, and
 * the throw escaped as an uncaught exception that would kill an application process, its
 * call never settled; on a ready one, the call rejected with msgpackr's own RangeError.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/node/index.js';
import { connect } from '../../src/client/index.js';
import { StatehouseError } from '../../src/core/errors.js';

test('a request that cannot be encoded on a reconnecting connection fails its call with BAD_REQUEST and throws nothing outside it', async (t) => {
  const first = await startNode({ port: 0 });
  const port = first.port;
  const client = await connect({ seeds: first.address, timeoutMs: 2_000 });
  t.after(() => client.close());
  await client.set('k', { a: 1 });
  // The node restarts on the same address: the client's connection must be made again.
  await first.close();
  const second = await startNode({ port });
  t.after(() => second.close());
  await new Promise((r) => setTimeout(r, 200)); // past the reconnect backoff

  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };
  // Installed so the test process survives to report; an application without one crashes.
  process.prependListener('uncaughtException', onUncaught);
  t.after(() => process.removeListener('uncaughtException', onUncaught));

  const call = client.patch('k', [{ op: 'set', path: 'big', value: 2n ** 100n }]).then(
    () => 'resolved',
    (error: unknown) => error,
  );
  const outcome = await Promise.race([
    call,
    new Promise((r) => setTimeout(() => r('never settled'), 4_000)),
  ]);
  assert.deepEqual(
    uncaught.map((e) => String(e).slice(0, 60)),
    [],
    'an exception escaped the call (in the socket data handler)',
  );
  assert.ok(
    outcome instanceof StatehouseError,
    `the call should reject with a StatehouseError; got: ${String(outcome)}`,
  );
  assert.equal(outcome.code, 'BAD_REQUEST');
});

test('a request that cannot be encoded on a ready connection fails its call with BAD_REQUEST', async (t) => {
  const node = await startNode({ port: 0 });
  t.after(() => node.close());
  const client = await connect({ seeds: node.address, timeoutMs: 2_000 });
  t.after(() => client.close());
  await client.set('k', { a: 1 });
  await assert.rejects(
    client.patch('k', [{ op: 'set', path: 'big', value: 2n ** 100n }]),
    (e: Error) => {
      assert.ok(
        e instanceof StatehouseError,
        `expected a StatehouseError with a stable code, got ${e.constructor.name}: ${e.message.slice(0, 60)}`,
      );
      assert.equal(e.code, 'BAD_REQUEST');
      return true;
    },
  );
});
