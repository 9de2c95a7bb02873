/**
 * Regression, found by the data-plane simulator (seed 16, before the fix): a member that
 * restarted from its data dir had its copies declared lost, but where it was primary with no
 * other in-sync copy the table kept naming it primary. Placement took the partition for
 * served, kept a new backup "catching up" from a primary that had no data and never served
 * (the node's table gate masks it), and counted that copy against the moves in flight
 * forever: with one move allowed, no other partition was ever repaired. Such a partition is
 * now left without a primary, stuck, as after the death of a primary with no in-sync backup.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  ClusterState,
  planMoves,
  tableProblem,
  type MemberRecord,
} from '../../src/control/index.js';
import { foundedCluster } from './helpers.js';

const member = (name: string): MemberRecord => ({
  id: `${name}~1`,
  name,
  address: `${name}:1`,
  state: 'active',
});

function twoPartitionsOnA(): ClusterState {
  return foundedCluster(['a', 'b', 'c'].map(member), 2);
}

test('a restarted primary with no in-sync heir leaves its partition without a primary, and the copy catching up from it holds no move slot', () => {
  const state = twoPartitionsOnA();
  // Partition 0: a leads, b's copy is still catching up. Partition 1: b took over from a.
  state.apply({
    type: 'placement',
    changes: [
      { kind: 'addBackup', partition: 0, node: 'b~1' },
      { kind: 'addBackup', partition: 1, node: 'b~1' },
    ],
  });
  state.apply({ type: 'inSync', partition: 1, node: 'b~1', epoch: state.table[1]!.epoch });
  state.apply({
    type: 'placement',
    changes: [{ kind: 'transferPrimary', partition: 1, to: 'b~1' }],
  });
  const epoch0 = state.table[0]!.epoch;

  assert.equal(state.apply({ type: 'lostCopies', id: 'a~1' }).applied, true);
  const lost = state.table[0]!;
  assert.equal(lost.primary, null, 'nobody holds what a acknowledged');
  assert.deepEqual(lost.inSync, []);
  assert.ok(lost.epoch > epoch0, 'in a new epoch, so the old one is refused everywhere');
  assert.equal(tableProblem(state.table), null);
  assert.equal(state.table[1]!.primary, 'b~1');

  const members = state.members.map((m) => ({ id: m.id, state: m.state }));
  const plan = planMoves(state.table, members, { replicationFactor: 2, maxMovesInFlight: 1 });
  assert.deepEqual(plan.stuck, [0]);
  assert.ok(
    plan.changes.some((c) => c.kind === 'addBackup' && c.partition === 1),
    `partition 1 gets its second copy: ${JSON.stringify(plan.changes)}`,
  );
});
