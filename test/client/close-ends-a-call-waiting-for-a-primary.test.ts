/**
 * close() promises that calls in flight fail with CLIENT_CLOSED. Found by review: a call
 * waiting for its partition to get a primary (the table names none) looped, sleeping and
 * refreshing, until its own deadline and failed TIMEOUT, outliving close() by seconds and
 * keeping timers and the process alive.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import type { StatehouseError } from '../../src/core/errors.js';
import { fakeNode } from '../helpers/fake-node.js';

test('a call waiting for a partition to get a primary fails CLIENT_CLOSED as soon as the client closes', async (t) => {
  // A node whose one partition has no primary now.
  const client = await connect({ seeds: await fakeNode(t, () => null, { primary: -1 }) });

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
