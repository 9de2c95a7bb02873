import test from 'node:test';
import assert from 'node:assert/strict';
import { initialTable, type Member, type PartitionTable } from '../../src/control/index.js';
import { assertConverged, assertCopiesBalanced, assertWellFormed } from './helpers.js';

// A checker is trusted only after it has caught a planted bug.

const members: Member[] = [
  { id: 'a1', zone: 'a', state: 'active' },
  { id: 'a2', zone: 'a', state: 'active' },
  { id: 'b1', zone: 'b', state: 'active' },
  { id: 'b2', zone: 'b', state: 'active' },
];

test('the checkers pass a good table', () => {
  const table = initialTable(members, 16, 2);
  assertConverged(table, members, 2);
  assertCopiesBalanced(table, members, 2);
});

test('the well-formedness checker catches two copies of a partition on one node', () => {
  const table: PartitionTable = [{ epoch: 1, primary: 'a1', backups: ['a1'], inSync: ['a1'] }];
  assert.throws(() => assertWellFormed(table), /two copies on one node/);
});

test('the convergence checker catches two copies of a partition in one zone', () => {
  const table = [...initialTable(members, 16, 2)];
  table[0] = { epoch: 2, primary: 'a1', backups: ['a2'], inSync: ['a1', 'a2'] };
  assert.throws(() => assertConverged(table, members, 2), /copies in zone:a/);
});

test('the convergence checker catches a missing copy and a copy behind', () => {
  const table = [...initialTable(members, 16, 2)];
  table[0] = { epoch: 2, primary: 'a1', backups: [], inSync: ['a1'] };
  assert.throws(() => assertConverged(table, members, 2), /1 copies, expected 2/);
  table[0] = { epoch: 2, primary: 'a1', backups: ['b1'], inSync: ['a1'] };
  assert.throws(() => assertConverged(table, members, 2), /not all in sync/);
});

test('the balance checker catches a node two copies over another when nothing pins them', () => {
  const plain: Member[] = ['n1', 'n2', 'n3', 'n4'].map((id) => ({ id, state: 'active' }));
  const table: PartitionTable = [
    { epoch: 1, primary: 'n1', backups: ['n2'], inSync: ['n1', 'n2'] },
    { epoch: 1, primary: 'n1', backups: ['n3'], inSync: ['n1', 'n3'] },
    { epoch: 1, primary: 'n1', backups: ['n4'], inSync: ['n1', 'n4'] },
    { epoch: 1, primary: 'n2', backups: ['n3'], inSync: ['n2', 'n3'] },
  ];
  assert.throws(() => assertCopiesBalanced(table, plain, 2), /no zone is pinned/);
});

test('the balance checker catches two nodes of one zone more than one copy apart', () => {
  const table: PartitionTable = [
    { epoch: 1, primary: 'a1', backups: ['b1'], inSync: ['a1', 'b1'] },
    { epoch: 1, primary: 'a1', backups: ['b2'], inSync: ['a1', 'b2'] },
    { epoch: 1, primary: 'a1', backups: ['b1'], inSync: ['a1', 'b1'] },
    { epoch: 1, primary: 'a2', backups: ['b2'], inSync: ['a2', 'b2'] },
  ];
  assert.throws(() => assertCopiesBalanced(table, members, 2), /in one zone/);
});
