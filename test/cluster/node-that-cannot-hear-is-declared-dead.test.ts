/**
 * Found by the chaos run (npm run chaos, a one-way partition: every other node's bytes to one
 * node stop, its own still go out).
 *
 * The node hears no leader, so it campaigns every election timeout, and its pre-vote requests
 * reach the leader. The leader counted any Raft message as a sign of life, so it never declared
 * the node dead, while the node served nothing: as a primary it got no lease echoes, and the
 * primaries it backed up got none from it. Its partitions answered UNAVAILABLE for as long as
 * the cut lasted. Only messages that show the sender hears the cluster may count.
 */
import test from 'node:test';
import { startProxiedCluster, writesWithout } from '../chaos/proxied-cluster.js';
import { eventually, replicated } from '../helpers/cluster.js';

test('a node that can send but not receive is declared dead and its partitions fail over', async (t) => {
  const { net, nodes, proxies } = await startProxiedCluster(t, 3, 100, { partitions: 8 });
  await eventually('three active members, every partition replicated', () =>
    replicated(nodes[0]!, 3),
  );
  const leader = nodes[0]!.status().leader;
  const deaf = nodes.find((n) => n.memberId !== leader)!;
  const others = nodes.filter((n) => n !== deaf).map((n) => n.id);
  net.cutOneWay(others, [deaf.id]);
  const cutAt = Date.now();
  const leaderNode = nodes.find((n) => n.memberId === leader)!;
  await eventually(
    'the leader declares the node that hears nothing dead',
    () => leaderNode.status().members.find((m) => m.id === deaf.memberId)?.state === 'dead',
    10_000,
  );
  t.diagnostic(`declared dead ${Date.now() - cutAt} ms after the cut`);
  // Every partition takes a write again, through the nodes that still hear each other.
  await writesWithout(t, proxies, deaf.id);
});
