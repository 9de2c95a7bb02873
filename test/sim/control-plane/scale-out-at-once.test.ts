/**
 * Many nodes joining at once (an orchestrator scaling out) are admitted together, but the
 * leader adds them to Raft as learners one config change at a time, a commit round each, and
 * until then nobody sends them anything. Their silence used to count from the join, so the
 * last ones were declared dead before they had ever been asked, their new copies dropped and
 * made again when they answered. Silence now counts from when a member enters Raft.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim } from './cluster-sim.js';

test('thirty nodes joining a five-node cluster at once are none of them declared dead', async () => {
  const sim = new ClusterSim({
    seed: 5,
    partitions: 64,
    failureTimeoutMs: 600,
  });
  await sim.form();
  await sim.joinAll(Array.from({ length: 30 }, (_, i) => `n${i + 6}`));
  sim.runUntilConverged(5_000);
  assert.deepEqual(sim.deaths, []);
  assert.equal(sim.leader()!.plane.status().members.length, 35);
  assert.deepEqual(sim.violations, []);
});

test('a node that joins with others and crashes before it is asked anything is still declared dead', async () => {
  const sim = new ClusterSim({
    seed: 6,
    partitions: 64,
    failureTimeoutMs: 600,
  });
  sim.bootstrap('n1');
  sim.run(5);
  for (const name of ['n2', 'n3']) await sim.join(name);
  sim.runUntilConverged(2_000);
  const joined = await sim.joinAll(Array.from({ length: 10 }, (_, i) => `n${i + 4}`));
  const victim = joined[joined.length - 1]!;
  sim.crash(victim.id);
  sim.run(200);
  assert.deepEqual(
    sim.deaths.map((d) => d.id),
    [victim.id],
  );
  assert.deepEqual(sim.falseDetections(), []);
});
