/**
 * Regression, found by the data-plane simulator (seed 10 with a planted bug, before the
 * fix): the control plane answered a join once *an* entry was applied at the index the join
 * was proposed at. A leader that lost leadership before the join committed saw the next
 * leader's entry applied there and answered the joiner "admitted"; the joiner waited for a
 * membership that never came. The waiter now checks the term of the entry at its index.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSim } from '../sim/control-plane/cluster-sim.js';

test('a join proposed by a leader that loses leadership before it commits is refused, not answered as done', async () => {
  const sim = new ClusterSim({
    seed: 3,
    partitions: 4,
    failureTimeoutMs: 1_500,
  });
  await sim.form(3);
  const old = sim.leader()!;
  sim.isolate(old.id);
  // In an object: TypeScript would narrow a plain variable to its first value.
  const answer: { outcome: 'pending' | 'admitted' | Error } = { outcome: 'pending' };
  old.plane
    .admit({ kind: 'join', id: 0, name: 'x', memberId: 'x~0', address: 'x:1', clusterId: null })
    .then(
      () => (answer.outcome = 'admitted'),
      (error: Error) => (answer.outcome = error),
    );
  // The others elect a leader of their own, whose entries take the index the join was at.
  sim.run(200);
  const next = sim.leader();
  assert.ok(next !== undefined && next.id !== old.id, 'another node leads');
  sim.heal();
  sim.run(100);
  await new Promise((resolve) => setImmediate(resolve));
  const { outcome } = answer;
  assert.ok(outcome instanceof Error, `the join was answered ${String(outcome)}`);
  assert.match(outcome.message, /lost to a change of control-plane leader/);
  assert.equal(sim.leader()!.plane.state.member('x~0'), undefined, 'x was never admitted');
  for (const n of sim.nodes.values()) n.plane.close();
});
