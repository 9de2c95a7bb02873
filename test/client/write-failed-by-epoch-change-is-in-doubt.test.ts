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
import { connect } from '../../src/client/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import { fakeNode as fakeNodeAnswering } from '../helpers/fake-node.js';

/**
 * A one-partition fake node that answers every command UNAVAILABLE, the first one with
 * `inDoubt` in its meta when `firstInDoubt`.
 */
function fakeNode(t: TestContext, firstInDoubt: boolean): Promise<string> {
  return fakeNodeAnswering(t, (command) => ({
    code: 'UNAVAILABLE',
    message: 'partition 0 moved to epoch 2 before the write was acknowledged',
    meta: { partition: 0, epoch: 2, ...(command === 0 && firstInDoubt && { inDoubt: true }) },
  }));
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
