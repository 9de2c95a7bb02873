/**
 * Regression, found by the data-plane simulator (seeds 37 and 97 of the first 200, before the
 * fix): a node was drained while it held a backup of a partition that had lost every in-sync
 * copy (its primary died after the backup fell out of sync). Placement freezes such a stuck
 * partition, so the draining node's copy stayed named in the table, the node never held
 * nothing, and the drain never finished: the node could not leave, and the cluster did not
 * settle. The copy is stale, so nothing could ever promote it or copy from it; placement now
 * drops it, and leaves the partition stuck as before.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { applyMove, planMoves, type Member, type PartitionTable } from '../../src/control/index.js';

const members: Member[] = [
  { id: 'a', state: 'active' },
  { id: 'b', state: 'draining' },
  { id: 'c', state: 'dead' },
  { id: 'd', state: 'active' },
];
// Partition 0 is stuck: its primary c is dead and b's copy fell out of sync before c died.
const table: PartitionTable = [
  { epoch: 6, primary: 'c', backups: ['b'], inSync: ['c'] },
  { epoch: 4, primary: 'a', backups: ['d'], inSync: ['a', 'd'] },
];

test("a draining node's stale copy of a stuck partition is dropped, so its drain can finish", () => {
  const plan = planMoves(table, members, { replicationFactor: 2 });
  assert.deepEqual(plan.changes, [{ kind: 'removeReplica', partition: 0, node: 'b' }]);
  let after = table;
  for (const change of plan.changes) after = applyMove(after, change);
  assert.ok(
    after.every((a) => a.primary !== 'b' && !a.backups.includes('b')),
    'b holds nothing: drained',
  );
});

test('a stuck partition stays stuck, its dead primary named, once the stale copy is dropped', () => {
  const plan = planMoves(table, members, { replicationFactor: 2 });
  assert.deepEqual(plan.stuck, [0]);
  let after = table;
  for (const change of plan.changes) after = applyMove(after, change);
  assert.equal(after[0]!.primary, 'c');
  assert.deepEqual(after[0]!.inSync, ['c']);
  assert.deepEqual(planMoves(after, members, { replicationFactor: 2 }).changes, []);
});
