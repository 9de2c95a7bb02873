/**
 * The client keeps a table only if its version is not older than the one it holds. After a
 * full-cluster restart (supported: it loses the data, README) the new cluster's versions start
 * again near 1. Found by review: a client that lived through the restart refused every table
 * of the new cluster for good, and a key whose old primary's address was gone could never be
 * written or read again by it. Tables carry the cluster's id; another id replaces the table.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/node/index.js';
import { connect } from '../../src/client/index.js';
import { eventually, fastTiming, replicated, startCluster } from '../helpers/cluster.js';

test('a client that lived through a full-cluster restart follows the new cluster, whose table versions start again', async (t) => {
  const [n1, n2] = await startCluster(t, 2);
  await eventually('both nodes hold every partition', () => replicated(n1!, 2));
  const client = await connect({ seeds: [n1!.address, n2!.address], timeoutMs: 3_000 });
  t.after(() => client.close());
  // A key whose primary is the second node.
  let key = '';
  for (let i = 0; key === ''; i++) {
    await client.set(`k${i}`, i);
    if (client.primaryOf(`k${i}`) === n2!.address) key = `k${i}`;
  }

  // The whole cluster restarts (in memory: a new, empty cluster), on the first address only.
  await n1!.close();
  await n2!.close();
  const fresh = await startNode({ port: n1!.port, id: 'n1', ...fastTiming });
  t.after(() => fresh.close());
  const other = await connect({ seeds: fresh.address });
  t.after(() => other.close());
  await other.set('probe', 1); // the new cluster serves

  await client.set(key, 'after restart');
  assert.equal(await client.get(key), 'after restart');
});
