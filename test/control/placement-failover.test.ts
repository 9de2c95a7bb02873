import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyMove,
  converge,
  initialTable,
  planMoves,
  type Member,
  type PartitionAssignment,
  type PartitionTable,
} from '../../src/control/index.js';
import { isLive, liveMembers, messyClusterArb, replicas } from './helpers.js';

function stateOf(members: readonly Member[], id: string): Member['state'] {
  return members.find((m) => m.id === id)?.state ?? 'dead';
}

test('a dead primary is replaced by its in-sync backup, not by the backup still catching up', () => {
  const members: Member[] = [
    { id: 'a', state: 'dead' },
    { id: 'b', state: 'active' },
    { id: 'c', state: 'active' },
  ];
  const table: PartitionTable = [
    { epoch: 7, primary: 'a', backups: ['b', 'c'], inSync: ['a', 'c'] },
  ];
  const plan = planMoves(table, members, { replicationFactor: 3 });
  assert.deepEqual(plan.changes[0], { kind: 'promote', partition: 0, newPrimary: 'c' });
  const after = applyMove(table, plan.changes[0] as never);
  assert.deepEqual(after[0], { epoch: 8, primary: 'c', backups: ['b'], inSync: ['c'] });
});

test('failover only ever promotes an in-sync replica on a node that is not dead', () => {
  fc.assert(
    fc.property(messyClusterArb(), ({ members, table, replicationFactor }) => {
      const plan = planMoves(table, members, { replicationFactor });
      for (const change of plan.changes) {
        if (change.kind !== 'promote') continue;
        const a = table[change.partition] as PartitionAssignment;
        assert.ok(a.inSync.includes(change.newPrimary), 'promoted a replica that is not in sync');
        assert.notEqual(stateOf(members, change.newPrimary), 'dead');
        assert.ok(a.primary === null || stateOf(members, a.primary) === 'dead');
      }
    }),
    { numRuns: 400 },
  );
});

test("a partition whose in-sync replicas are all dead is reported stuck, and gets no change but a draining node's copy dropped", () => {
  fc.assert(
    fc.property(messyClusterArb(), ({ members, table, replicationFactor }) => {
      const plan = planMoves(table, members, { replicationFactor });
      const expected = table
        .map((a, p) => ({ a, p }))
        .filter(({ a }) => a.inSync.every((n) => stateOf(members, n) === 'dead'))
        .map(({ p }) => p);
      assert.deepEqual(plan.stuck, expected);
      for (const change of plan.changes) {
        if (!expected.includes(change.partition)) continue;
        assert.equal(change.kind, 'removeReplica');
        if (change.kind === 'removeReplica') {
          assert.equal(stateOf(members, change.node), 'draining');
        }
      }
    }),
    { numRuns: 400 },
  );
});

test('a stuck partition keeps its dead primary and its copies through convergence', () => {
  const members: Member[] = [
    { id: 'a', state: 'dead' },
    { id: 'b', state: 'active' },
    { id: 'c', state: 'active' },
  ];
  const table: PartitionTable = [
    { epoch: 3, primary: 'a', backups: ['b'], inSync: ['a'] },
    { epoch: 3, primary: 'b', backups: ['c'], inSync: ['b', 'c'] },
  ];
  const result = converge(table, members, { replicationFactor: 2 });
  assert.deepEqual(result.stuck, [0]);
  assert.deepEqual(result.table[0], table[0]);
});

test('no plan lowers the number of in-sync copies a partition keeps, below what RF asks for', () => {
  fc.assert(
    fc.property(messyClusterArb(), ({ members, table, replicationFactor }) => {
      const r = Math.min(replicationFactor, liveMembers(members).length);
      const count = (t: PartitionTable, p: number, ok: (n: string) => boolean): number =>
        (t[p] as PartitionAssignment).inSync.filter(ok).length;
      const notDead = (n: string): boolean => stateOf(members, n) !== 'dead';
      const live = (n: string): boolean => isLive(members.find((m) => m.id === n));
      const plan = planMoves(table, members, { replicationFactor });
      let after = table;
      for (const change of plan.changes) after = applyMove(after, change);
      table.forEach((_, p) => {
        for (const ok of [notDead, live]) {
          const before = count(table, p, ok);
          assert.ok(
            count(after, p, ok) >= Math.min(before, r),
            `partition ${p} lost in-sync copies`,
          );
        }
      });
    }),
    { numRuns: 400 },
  );
});

test('the primary is never removed, and is handed over only to an in-sync copy on a live node', () => {
  fc.assert(
    fc.property(messyClusterArb(), ({ members, table, replicationFactor }) => {
      let now: PartitionTable = table;
      for (const change of planMoves(table, members, { replicationFactor }).changes) {
        const a = now[change.partition] as PartitionAssignment;
        if (change.kind === 'removeReplica') assert.notEqual(change.node, a.primary);
        if (change.kind === 'transferPrimary') {
          assert.ok(a.inSync.includes(change.to));
          assert.ok(isLive(members.find((m) => m.id === change.to)));
        }
        now = applyMove(now, change);
      }
    }),
    { numRuns: 400 },
  );
});

test('a draining node hands over its primaries and is emptied, and no partition loses a copy meanwhile', () => {
  const members: Member[] = ['a', 'b', 'c', 'd'].map((id) => ({ id, state: 'active' }));
  const table = initialTable(members, 64, 2);
  const draining = members.map((m) => (m.id === 'a' ? { ...m, state: 'draining' as const } : m));
  const result = converge(table, draining, { replicationFactor: 2 });
  for (const a of result.table) {
    assert.ok(!replicas(a).includes('a'));
    assert.equal(replicas(a).length, 2);
  }
  const held = table.filter((a) => replicas(a).includes('a')).length;
  assert.equal(result.copiesMoved, held);
});
