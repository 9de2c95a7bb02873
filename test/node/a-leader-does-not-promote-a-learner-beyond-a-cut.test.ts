/**
 * Regression, found by `npm run chaos` (seed 1873535010, fault 8): five nodes, three of them
 * Raft voters. A cut put two voters on one side and the leader with both learners on the
 * other. One of the two became leader, as it should, and at once promoted a learner to
 * replace the voter it could not hear: a new leader counts its election as having heard
 * everyone, and the learner it picked was beyond the cut. Raft takes a membership on append,
 * so the side then needed 3 of 4 voters, check-quorum deposed its leader half a second
 * later, and for the 7 s of the cut nobody led: 30 of 64 partitions took no write.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim } from '../sim/control-plane/cluster-sim.js';

test('a cut leaving two of three voters on the smaller side keeps a leader there', async () => {
  const sim = new ClusterSim({
    seed: 3,
    partitions: 16,
    failureTimeoutMs: 1_000,
  });
  await sim.form(5);
  const oldLeader = sim.leader()!;
  const { voters } = oldLeader.plane.raftStatus().membership;
  assert.equal(voters.length, 3);
  const smallSide = voters.filter((id) => id !== oldLeader.id);
  const bigSide = [...sim.nodes.keys()].filter((id) => !smallSide.includes(id));
  for (const a of smallSide) for (const b of bigSide) sim.cutLink(a, b);

  const ledFromSmallSide: boolean[] = [];
  for (let ms = 0; ms < 8_000; ms += 50) {
    sim.step();
    ledFromSmallSide.push(sim.leaders().some((n) => smallSide.includes(n.id)));
  }
  // An election timeout or two for the small side to notice and elect; then it must hold.
  assert.ok(
    ledFromSmallSide.slice(-100).every(Boolean),
    'the last 5 s of the cut had a leader on the side with the voters majority',
  );
  const leader = sim.leaders().find((n) => smallSide.includes(n.id))!;
  for (const id of leader.plane.raftStatus().membership.voters) {
    assert.ok(smallSide.includes(id) || id === oldLeader.id, `${id}, beyond the cut, is no voter`);
  }
  for (const n of sim.nodes.values()) n.plane.close();
});
