/**
 * Regression, found by `npm run chaos` (seed 1474107191, fault 23): two followers cut from
 * each other while the Raft leader hears both (a bridge). Nobody is declared dead, so no
 * failover helps: a partition whose primary is on one side and whose backup is on the
 * other must go on without the backup. Its primary reports the backup lagging, the leader
 * takes it out of the in-sync set, and the primary serves alone; before the fix it still
 * waited for the backup's lease grant and acknowledgements, and such partitions took no
 * write until the cut healed (a-backup-out-of-sync-does-not-hold-its-primary-back).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { startProxiedCluster, writesWithout } from '../chaos/proxied-cluster.js';
import { eventually, converged } from '../helpers/cluster.js';

test('a primary cut from its backup while the leader hears both serves without the backup', async (t) => {
  const { net, nodes, proxies } = await startProxiedCluster(t, 3, 120, { partitions: 8 });
  await eventually('three active members, every partition replicated and balanced', () =>
    converged(nodes[0]!, 3),
  );
  const leader = nodes[0]!.status().leader;
  const [a, b] = nodes.filter((n) => n.memberId !== leader);
  net.cut([a!.id], [b!.id]);
  const cutAt = Date.now();
  // Through every node's proxy: clients are not cut, only the two followers from each other.
  await writesWithout(t, proxies, null);
  t.diagnostic(`every partition written ${Date.now() - cutAt} ms after the cut`);
  const members = nodes[0]!.status().members;
  assert.ok(
    members.every((m) => m.state === 'active'),
    'nobody was declared dead: the leader hears everyone',
  );
});
