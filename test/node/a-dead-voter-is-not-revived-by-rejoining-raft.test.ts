/**
 * Regression, found by the data-plane simulator (seeds 16, 20, 26, 31, 39 and 51 of the first
 * 60, before the fix): the leader counts a member as heard when it enters Raft, so that a
 * joiner waiting for its learner slot is not declared dead before anyone asked it anything
 * (b883e71). A dead member entering Raft was counted the same way, and the controller
 * revives a dead member it heard within the failure timeout. A voter declared dead is taken
 * out of the voters and added straight back as a learner, so every lost voter came back as
 * active without a word from it, and placement gave copies to a node that was down. In the
 * simulator the same step revived an old incarnation that a newer one had replaced, which
 * then removed the newer one from the cluster: admitted and running, it never heard from the
 * cluster again, and the cluster never settled.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim } from '../sim/control-plane/cluster-sim.js';

test('a crashed voter, taken out of the voters and added back as a learner, stays dead until it is heard', async () => {
  const sim = new ClusterSim({
    seed: 5,
    partitions: 8,
    failureTimeoutMs: 600,
  });
  await sim.form();
  const leader = sim.leader()!;
  const victim = leader.plane.raftStatus().membership.voters.find((id) => id !== leader.id);
  assert.ok(victim !== undefined, 'a voter other than the leader');
  sim.crash(victim);

  const states: string[] = [];
  for (let i = 0; i < 200; i++) {
    sim.step();
    const state = sim.leader()?.plane.state.member(victim)?.state;
    if (state !== undefined && state !== states.at(-1)) states.push(state);
  }
  const membership = sim.leader()!.plane.raftStatus().membership;
  assert.ok(!membership.voters.includes(victim), 'it was taken out of the voters');
  assert.ok(membership.learners.includes(victim), 'and follows as a learner, should it return');
  assert.deepEqual(states, ['active', 'dead'], 'declared dead once, never revived');

  sim.restart(victim);
  sim.runUntilConverged(2_000);
  assert.equal(sim.leader()!.plane.state.member(victim)?.state, 'active', 'revived once heard');
  for (const n of sim.nodes.values()) n.plane.close();
});
