/**
 * The Raft leader cut off one way: every other node's bytes to it stop, its own still go
 * out. It hears no acknowledgement, so check-quorum makes it step down, and the others elect
 * one of themselves and declare it dead as they would any node that cannot hear
 * (node-that-cannot-hear-is-declared-dead). In the chaos run of seed 269552620 (fault 3)
 * the deaf leader of five nodes had first proposed its backups out of sync, and its
 * successor committed that: a-leader-that-hears-no-majority-proposes-nothing.
 */
import test from 'node:test';
import { startProxiedCluster, writesWithout } from '../chaos/proxied-cluster.js';
import { eventually, replicated } from '../helpers/cluster.js';

test('a leader that can send but not receive is replaced and its partitions fail over', async (t) => {
  const { net, nodes, proxies } = await startProxiedCluster(t, 3, 110, { partitions: 8 });
  await eventually('three active members, every partition replicated', () =>
    replicated(nodes[0]!, 3),
  );
  const leader = nodes[0]!.status().leader;
  const deaf = nodes.find((n) => n.memberId === leader)!;
  const others = nodes.filter((n) => n !== deaf);
  net.cutOneWay(
    others.map((n) => n.id),
    [deaf.id],
  );
  const cutAt = Date.now();
  await eventually(
    'the others elect a leader among themselves and declare the deaf one dead',
    () => {
      const s = others[0]!.status();
      return (
        s.leader !== null &&
        s.leader !== deaf.memberId &&
        s.members.find((m) => m.id === deaf.memberId)?.state === 'dead'
      );
    },
    20_000,
  );
  t.diagnostic(`replaced and declared dead ${Date.now() - cutAt} ms after the cut`);
  await writesWithout(t, proxies, deaf.id);
  t.diagnostic(`every partition written ${Date.now() - cutAt} ms after the cut`);
});
