/**
 * The accept-loss fence grants a member nothing until its log reaches the last accept-loss
 * (control-plane.ts send()). Found by review: once a cut healed, the leader revived the lost
 * primary on its first answer and granted it again whatever it had applied; on a link slower
 * than the majority's own, that grant reached the old primary before the entries that had
 * restarted its partition, and for a while it held a fresh grant while its table still named
 * it primary at the old epoch: a fenced primary would have served its old data after the new
 * primary served.
 *
 * The simulator's clock is shared: no drift. The victim's links take 100 ms more each way
 * than the others (an extra two steps).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { isStuck } from '../../../src/control/index.js';
import type { Message } from '../../../src/raft/index.js';
import type { ControlCommand } from '../../../src/control/index.js';
import { ClusterSim, type SimNode } from './cluster-sim.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('an old primary healed after accept-loss holds no leader grant while its table still names it primary at the old epoch', async () => {
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
  for (let i = 0; i < 400 && !isStuck(leader.plane.state, p); i++) {
    sim.step();
    await tick();
  }
  assert.ok(isStuck(leader.plane.state, p));
  let outcome: string | null = null;
  leader.plane.acceptLoss([p]).then(
    (r) => (outcome = JSON.stringify(r)),
    (e: Error) => (outcome = `error: ${e.message}`),
  );
  for (let i = 0; i < 400 && outcome === null; i++) {
    sim.step();
    await tick();
  }
  assert.ok(leader.plane.state.table[p]!.epoch > epoch, `accept-loss: ${outcome}`);
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
