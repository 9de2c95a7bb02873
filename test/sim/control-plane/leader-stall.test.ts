/**
 * A leader whose event loop is blocked (a long placement plan, a GC pause, a slow disk) reads
 * nothing while it is blocked, and when it resumes Node runs its tick timer before it reads
 * the messages that waited. The failure detector used to measure silence on the plain clock,
 * so that first tick found every member silent for the whole stall and, past the failure
 * timeout, declared them all dead: a failover of the whole cluster for a pause of its own.
 * It now counts only the time the leader was there to listen (ControlPlane.listeningNow).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim, copiesCreated } from './cluster-sim.js';

async function tenNodes(seed: number): Promise<ClusterSim> {
  const sim = new ClusterSim({
    seed,
    partitions: 64,
    // start-node.ts's default.
    failureTimeoutMs: 600,
  });
  sim.bootstrap('n1');
  sim.run(5);
  for (let i = 2; i <= 10; i++) await sim.join(`n${i}`);
  sim.runUntilConverged(5_000);
  sim.run(100);
  return sim;
}

// Stalls past the failure timeout (600 ms) but short enough that the other voters often keep
// the leader (their election timeouts are 500 to 1000 ms): the case that declared everyone
// dead. Seeds 2 and 3 keep their leader through a 650 ms stall, seed 2 through 800 ms.
for (const [seed, stallMs] of [
  [2, 650],
  [3, 650],
  [2, 800],
] as const) {
  test(`a leader whose loop stalls for ${stallMs} ms, past the failure timeout, declares no live member dead and moves no copy (seed ${seed})`, async () => {
    const sim = await tenNodes(seed);
    const leader = sim.leader()!;
    const table = leader.plane.state.table;
    sim.stall(leader.id, stallMs);
    sim.run(200);
    assert.deepEqual(sim.falseDetections(), []);
    assert.equal(sim.deaths.length, 0, 'nobody was out for a failure timeout but the leader');
    assert.ok(sim.converged());
    assert.equal(copiesCreated(table, sim.leader()!.plane.state.table), 0);
    assert.deepEqual(sim.violations, []);
  });
}

test('a member that dies while the leader is stalled is still declared dead, once the leader has listened for a failure timeout', async () => {
  const sim = await tenNodes(2);
  const leader = sim.leader()!;
  const victim = [...sim.nodes.values()].find((n) => n.id !== leader.id)!;
  sim.crash(victim.id);
  sim.stall(leader.id, 650);
  const crashedAt = sim.now;
  sim.run(100);
  const death = sim.deaths.find((d) => d.id === victim.id);
  assert.ok(death !== undefined, 'the crashed member was declared dead');
  // Its silence counts from the leader's last message before the stall, minus the stall:
  // detection within the stall, a failure timeout and a few ticks for the commit.
  assert.ok(
    death.at - crashedAt <= 650 + 600 + 10 * 50,
    `declared after ${death.at - crashedAt} ms`,
  );
  assert.deepEqual(sim.falseDetections(), []);
});
