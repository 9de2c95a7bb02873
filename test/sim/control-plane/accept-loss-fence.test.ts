/**
 * The accept-loss fence in the control-plane simulator (control-plane.ts: grantsOver, send).
 * Each node of a three-node cluster with one copy per partition is its partitions' only
 * in-sync copy, so nothing but the leader grant stops a lost primary. The simulator's clock
 * is shared: no drift, so the new primary may serve from the moment it applies the
 * acceptLoss entry, and the old one may serve until its leaderGrantUntil.
 *
 * Found by review:
 * - The wait was worked out once, before it started, so a lost primary whose link flapped
 *   (heard again during the wait, revived, granted afresh, declared dead again) still held
 *   a grant, its table naming it primary, when accept-loss restarted the partition.
 * - Once a cut healed, the leader revived the lost primary on its first answer and granted
 *   it again whatever it had applied; on a link slower than the majority's own, that grant
 *   reached it before the entries that had restarted its partition.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { isStuck } from '../../../src/control/index.js';
import type { ControlCommand } from '../../../src/control/index.js';
import type { Message } from '../../../src/raft/index.js';
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

/** Starts accept-loss of `p` on the leader; `outcome` is its result once it ended, else null. */
function startAcceptLoss(leader: SimNode, p: number): { outcome: string | null } {
  const started: { outcome: string | null } = { outcome: null };
  leader.plane.acceptLoss([p]).then(
    (r) => (started.outcome = JSON.stringify(r)),
    (e: Error) => (started.outcome = `error: ${e.message}`),
  );
  return started;
}

/** Three nodes, one copy per partition; a victim that is primary of partition `p`, not leader. */
async function soleCopyCluster() {
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
  return { sim, leader, victim, p, epoch };
}

test('accept-loss does not restart a partition while its old primary, revived and lost again during the wait, still holds a leader grant', async () => {
  const { sim, leader, victim, p, epoch } = await soleCopyCluster();

  // The victim is cut off: declared dead, its partitions stuck.
  sim.isolate(victim.id);
  await stepUntil(sim, 'partition stuck', () => isStuck(leader.plane.state, p));
  const acceptLoss = startAcceptLoss(leader, p);
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
  for (let i = 0; i < 400 && (acceptLoss.outcome === null || i < 100); i++) {
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
  assert.ok(
    acceptLoss.outcome !== null && restartedAt !== null,
    `accept-loss: ${acceptLoss.outcome}`,
  );
  assert.ok(
    overlap <= 0,
    `the partition was restarted at ${restartedAt} while the old primary held a leader grant ` +
      `for ${overlap} ms more (accept-loss: ${acceptLoss.outcome})`,
  );
});

test('an old primary healed after accept-loss holds no leader grant while its table still names it primary at the old epoch', async () => {
  const { sim, leader, victim, p, epoch } = await soleCopyCluster();

  // The victim's links are slower than the rest (the simulator's send, with a per-link delay).
  const internals = sim as unknown as {
    queue: { push(item: unknown): void };
    order: number;
    send(message: Message<ControlCommand>): void;
  };
  internals.send = (message) => {
    const slow = message.from === victim.id || message.to === victim.id;
    internals.queue.push({
      deliverAt: sim.now + (slow ? 100 : 0),
      order: internals.order++,
      message,
    });
  };

  sim.isolate(victim.id);
  await stepUntil(sim, 'partition stuck', () => isStuck(leader.plane.state, p));
  const acceptLoss = startAcceptLoss(leader, p);
  for (let i = 0; i < 400 && acceptLoss.outcome === null; i++) {
    sim.step();
    await tick();
  }
  assert.ok(leader.plane.state.table[p]!.epoch > epoch, `accept-loss: ${acceptLoss.outcome}`);
  sim.run(20);

  sim.heal();
  const servingStale: number[] = [];
  for (let i = 0; i < 60; i++) {
    sim.step();
    await tick();
    const own = victim.plane.state.table[p]!;
    const primaryAtOldEpoch = own.primary === victim.id && own.epoch === epoch;
    if (primaryAtOldEpoch && victim.plane.leaderGrantUntil > sim.now) servingStale.push(sim.now);
  }
  assert.deepEqual(
    servingStale,
    [],
    `after accept-loss restarted partition ${p} elsewhere, the old primary held a leader grant ` +
      `while its table still named it primary at epoch ${epoch}, for ${servingStale.length} steps`,
  );
});
