/**
 * Peer links arrive on the client port, and a connection's frame limit was the clients' one,
 * worked out from valueBytesMax (a key, two values and 64 KiB). Replication frames are bounded
 * by other numbers: a snapshot chunk carries up to 1 MiB of entries, an append batch up to
 * 1 MiB of mutations. With valueBytesMax lowered (a hardening a session store invites), the
 * first large chunk was refused as TOO_LARGE, the link closed, and the new copy never caught
 * up, the same way at every retry.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { startNode } from '../../src/node/index.js';
import { converged, eventually, fastTiming, startCluster } from '../helpers/cluster.js';

test('a backup catches up by state transfer when valueBytesMax is far below a snapshot chunk', async (t) => {
  const options = { partitions: 1, valueBytesMax: 4_096 };
  const [first] = await startCluster(t, 1, options);
  assert.ok(first !== undefined);
  const client = await connect({ seeds: first.address, timeoutMs: 5_000 });
  t.after(() => client.close());
  const value = 'x'.repeat(4_000);
  // About 400 KB in the one partition: a snapshot chunk of that size, six client frames.
  await Promise.all(Array.from({ length: 100 }, (_, i) => client.set(`k${i}`, value)));
  const second = await startNode({
    port: 0,
    id: 'n2',
    seeds: [first.address],
    ...fastTiming,
    ...options,
  });
  t.after(() => second.close());
  await eventually('the new copy is in sync', () => converged(first, 2), 15_000);
});
