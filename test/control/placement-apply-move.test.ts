import test from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '../../src/core/assert.js';
import { applyMove, type PartitionTable } from '../../src/control/index.js';

const table: PartitionTable = [
  { epoch: 4, primary: 'a', backups: ['b', 'c'], inSync: ['a', 'b'] },
  { epoch: 9, primary: 'b', backups: ['a'], inSync: ['a', 'b'] },
];

test('applyMove changes only the named partition and bumps its epoch by one', () => {
  const after = applyMove(table, { kind: 'addBackup', partition: 1, node: 'c' });
  assert.equal(after[0], table[0]);
  assert.deepEqual(after[1], { epoch: 10, primary: 'b', backups: ['a', 'c'], inSync: ['a', 'b'] });
  assert.deepEqual(table[1], { epoch: 9, primary: 'b', backups: ['a'], inSync: ['a', 'b'] });
});

test('a promotion drops the dead primary together with its in-sync mark', () => {
  const after = applyMove(table, { kind: 'promote', partition: 0, newPrimary: 'b' });
  assert.deepEqual(after[0], { epoch: 5, primary: 'b', backups: ['c'], inSync: ['b'] });
});

test('a primary transfer keeps the old primary as an in-sync backup', () => {
  const after = applyMove(table, { kind: 'transferPrimary', partition: 1, to: 'a' });
  assert.deepEqual(after[1], { epoch: 10, primary: 'a', backups: ['b'], inSync: ['a', 'b'] });
});

test('removing a replica takes it out of the in-sync set too', () => {
  const after = applyMove(table, { kind: 'removeReplica', partition: 0, node: 'b' });
  assert.deepEqual(after[0], { epoch: 5, primary: 'a', backups: ['c'], inSync: ['a'] });
});

test('applyMove refuses changes that break the rules: promoting or handing over to a copy that is behind, removing the primary, a second copy on one node', () => {
  assert.throws(
    () => applyMove(table, { kind: 'promote', partition: 0, newPrimary: 'c' }),
    AssertionError,
  );
  assert.throws(
    () => applyMove(table, { kind: 'transferPrimary', partition: 0, to: 'c' }),
    AssertionError,
  );
  assert.throws(
    () => applyMove(table, { kind: 'removeReplica', partition: 0, node: 'a' }),
    AssertionError,
  );
  assert.throws(
    () => applyMove(table, { kind: 'addBackup', partition: 0, node: 'c' }),
    AssertionError,
  );
  assert.throws(
    () => applyMove(table, { kind: 'addBackup', partition: 2, node: 'c' }),
    AssertionError,
  );
});
