/**
 * Regression, found by the data-plane simulator (seed 1210 of a new range): a node that
 * joined as a new incarnation crashed before its data dir had learned the cluster's id, and
 * resumed from that data dir. It asked to be admitted without a cluster id, and the leader
 * took the member id it already had for a retried join: it committed no `lostCopies`
 * entry, so the table still named the node in-sync for copies that had gone with its memory.
 * The node's table gate, waiting for that entry, let its data plane take no table at all,
 * and the cluster never settled. A member the cluster already has gets its copies declared
 * lost whether or not it names the cluster: either its memory is gone (a restart), or it
 * asks again because the answer to its join was lost, and then the copies are simply made
 * again.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim } from '../sim/control-plane/cluster-sim.js';

test('a member that asks to join again without a cluster id has its copies declared lost', async () => {
  const sim = new ClusterSim({
    seed: 5,
    partitions: 4,
    failureTimeoutMs: 1_500,
  });
  await sim.form(3);
  const leader = sim.leader()!;
  const member = leader.plane.state.members.find((m) => m.id !== leader.id)!;
  const holds = (): number =>
    leader.plane.state.table.filter((a) => a.primary === member.id || a.backups.includes(member.id))
      .length;
  assert.ok(holds() > 0, 'the member holds copies before it asks again');
  const asked = leader.plane.admit({
    kind: 'join',
    id: 0,
    name: member.name,
    memberId: member.id,
    address: member.address,
    clusterId: null,
  });
  for (let i = 0; i < 100 && holds() > 0; i++) sim.run(1);
  sim.run(20);
  const result = await asked;
  assert.equal(typeof result.resetIndex, 'number', 'the answer names the lostCopies entry');
  assert.ok(leader.plane.appliedIndex >= result.resetIndex!);
  for (const n of sim.nodes.values()) n.plane.close();
});
