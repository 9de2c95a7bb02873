/**
 * A killed node's port refuses connections at once, and the cluster acts on that: the leader
 * declares a refusing, silent member dead within a few ticks, and the followers of a refusing
 * leader elect another without defending its election lease. The failure timeout here is a
 * minute, far beyond what these tests wait, so only the refusals can explain a failover.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterStatusView } from '../../src/client/index.js';
import { ProcessCluster, type ProcessNode } from '../helpers/process-cluster.js';
import { eventually } from '../helpers/cluster.js';

const args = ['--partitions', '32', '--failure-timeout', '60s'];

async function killAndAwaitFailover(
  cluster: ProcessCluster,
  victim: ProcessNode,
): Promise<ClusterStatusView> {
  const victimId = (await cluster.status(cluster.alive()[0]!))!.members.find(
    (m) => m.address === victim.address,
  )!.id;
  victim.child.kill('SIGKILL');
  const survivor = cluster.alive().find((n) => n !== victim)!;
  let last: ClusterStatusView | null = null;
  await eventually(
    'the killed node is declared dead and every partition has a live primary',
    async () => {
      last = await cluster.status(survivor);
      return (
        last !== null &&
        last.members.find((m) => m.id === victimId)?.state === 'dead' &&
        last.partitions.withoutPrimary === 0
      );
    },
    20_000,
  );
  return last!;
}

test(
  'a SIGKILLed member is declared dead well before a failure timeout of a minute',
  { timeout: 120_000 },
  async (t) => {
    const cluster = await ProcessCluster.start({ size: 3, args });
    t.after(() => cluster.stop());
    const before = await cluster.settled(3);
    const victim = cluster.nodes.find(
      (n) => before.members.find((m) => m.address === n.address)!.id !== before.leader,
    )!;
    const after = await killAndAwaitFailover(cluster, victim);
    assert.equal(after.leader, before.leader, 'the leader stayed');
  },
);

test(
  'a SIGKILLed Raft leader is replaced and declared dead well before a failure timeout of a minute',
  { timeout: 120_000 },
  async (t) => {
    const cluster = await ProcessCluster.start({ size: 3, args });
    t.after(() => cluster.stop());
    const before = await cluster.settled(3);
    const leader = before.members.find((m) => m.id === before.leader)!;
    const after = await killAndAwaitFailover(cluster, cluster.byAddress(leader.address));
    assert.notEqual(after.leader, before.leader);
  },
);
