/**
 * The accept-loss fence (control-plane.ts grantsOver) works out its wait again after each
 * wait. Found by review: it was worked out once, before it started, so a lost primary whose
 * link flapped (heard again during the wait, revived, granted afresh, declared dead again)
 * still held a leader grant, with its own table naming it primary, when accept-loss
 * restarted the partition.
 *
 * Every node shares the simulator's clock, so there is no drift: the new primary may serve
 * from the moment it applies the acceptLoss entry, and the old one may serve until its
 * leaderGrantUntil.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { isStuck } from '../../../src/control/index.js';
import { ClusterSim, type SimNode } from './cluster-sim.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function stepUntil(sim: ClusterSim, what: string, done: () => boolean, max = 400) {
  for (let i = 0; i < max; i++) {
    if (done()) return;
    sim.step();
    await tick();
  }
  throw new Error(`not within ${max} steps: ${what}`);
}

test('accept-loss does not restart a partition while its old primary, revived and lost again during the wait, still holds a leader grant', async () => {
  const sim = new ClusterSim({
    seed: 3,
    partitions: 6,
    replicationFactor: 1,
    failureTimeoutMs: 600,
  });
  await sim.form(3);
  sim.run(100);
  const leader = sim.leader()!;
  const table = leader.plane.state.table;
  const victim = [...sim.nodes.values()].find(
    (n) => n !== leader && table.some((a) => a.primary === n.id),
  ) as SimNode;
  const p = table.findIndex((a) => a.primary === victim.id);
  const epoch = table[p]!.epoch;

  // The victim is cut off: declared dead, its partitions stuck.
  sim.isolate(victim.id);
  await stepUntil(sim, 'partition stuck', () => isStuck(leader.plane.state, p));
  let outcome: string | null = null;
  leader.plane.acceptLoss([p]).then(
    (r) => (outcome = JSON.stringify(r)),
    (e: Error) => (outcome = `error: ${e.message}`),
  );
  // Its link comes back for a while during the wait (a flapping link), long enough for the
  // leader to revive it and grant it again, then goes again.
  sim.run(2);
  sim.heal();
  await stepUntil(
    sim,
    'victim revived and granted',
    () =>
      leader.plane.state.member(victim.id)?.state === 'active' &&
      victim.plane.leaderGrantUntil > sim.now + 1_500,
  );
  // Connected for another 600 ms; lost again, it is declared dead again within the wait.
  sim.run(12);
  sim.isolate(victim.id);

  let overlap = 0;
  let restartedAt: number | null = null;
  for (let i = 0; i < 400 && (outcome === null || i < 100); i++) {
    sim.step();
    await tick();
    const restarted = [...sim.nodes.values()].some(
      (n) => n !== victim && (n.plane.state.table[p]?.epoch ?? 0) > epoch,
    );
    if (!restarted) continue;
    restartedAt ??= sim.now;
    // The old primary still believes it is primary at the old epoch...
    assert.equal(victim.plane.state.table[p]!.primary, victim.id);
    assert.equal(victim.plane.state.table[p]!.epoch, epoch);
    // ...and a fenced one serves as long as it holds the leader grant.
    overlap = Math.max(overlap, victim.plane.leaderGrantUntil - sim.now);
  }
  assert.ok(outcome !== null && restartedAt !== null, `accept-loss: ${outcome}`);
  assert.ok(
    overlap <= 0,
    `the partition was restarted at ${restartedAt} while the old primary held a leader grant ` +
      `for ${overlap} ms more (accept-loss: ${outcome})`,
  );
});
