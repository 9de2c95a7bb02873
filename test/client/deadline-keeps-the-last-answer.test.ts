/**
 * Found by test/cluster/primary-and-backup-lost.test.ts: a read of a partition with no copy
 * left ended in TIMEOUT whose cause was TIMEOUT, not UNAVAILABLE, when the call's deadline ran
 * out during a retry; the caller could not tell a partition that answers "unavailable" from
 * a node that never answered.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import { fakeNode } from '../helpers/fake-node.js';

test('a call whose deadline runs out during a retry names the last definite answer as its cause', async (t) => {
  // UNAVAILABLE once, then silence: the retry waits until the deadline.
  const seeds = await fakeNode(t, (command) =>
    command === 0 ? { code: 'UNAVAILABLE', message: 'partition 0 has no primary now' } : null,
  );
  const client = await connect({ seeds, timeoutMs: 400 });
  t.after(() => client.close());
  await assert.rejects(client.get('k'), (e: unknown) => {
    assert.ok(e instanceof StatehouseError);
    assert.equal(e.code, 'TIMEOUT');
    assert.equal((e.cause as StatehouseError | undefined)?.code, 'UNAVAILABLE', e.message);
    return true;
  });
});
