/**
 * The client's half of forwarding a write in doubt (see
 * test/node/a-forwarded-write-in-doubt-goes-back-to-its-client.test.ts): a forwarding client
 * told NOT_PRIMARY in doubt by its seed keeps the doubt through the retries that follow, so
 * a call that gets no definite answer after it ends in doubt, not failed.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import { fakeNode } from '../helpers/fake-node.js';

test('a forwarding client told NOT_PRIMARY in doubt and then refused until the deadline ends in doubt', async (t) => {
  const seed = await fakeNode(t, (command) =>
    command === 0
      ? {
          code: 'NOT_PRIMARY',
          message: 'partition 0 moved to epoch 2 before the write was acknowledged',
          meta: { partition: 0, epoch: 2, inDoubt: true },
        }
      : {
          code: 'UNAVAILABLE',
          message: 'partition 0: B is primary but a hand-off is settling',
          meta: { partition: 0, epoch: 2 },
        },
  );
  const client = await connect({ seeds: seed, forward: true, timeoutMs: 400 });
  t.after(() => client.close());
  await assert.rejects(
    client.set('k', 1),
    (e: unknown) => e instanceof StatehouseError && e.code === 'TIMEOUT' && e.inDoubt,
  );
});
