/**
 * Which copies answer a read that allows any replica (`readFrom: 'any'`): a backup in the
 * in-sync set, from its own copy; never a copy still being built, which may lack any key
 * (found by test/cluster/primary-and-backup-lost.test.ts: a fresh copy of a partition that had
 * lost both its copies answered `null` for a key that held an acknowledged value).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { DataPlane, PartitionPlacement } from '../../src/replication/index.js';
import { testPlane } from './two-planes.js';
import type { Outcome } from '../../src/store/index.js';

function backupB(placement: Omit<PartitionPlacement, 'epoch'>): DataPlane {
  const plane = testPlane('B', 1);
  plane.applyTable(1, [{ epoch: 1, ...placement }], (m) => `${m}:1`, 0);
  return plane;
}

function anyRead(plane: DataPlane): Outcome {
  const effects = plane.execute(1, { op: 'get', key: 'k' }, 0, { anyReplica: true });
  assert.equal(effects.replies.length, 1);
  return effects.replies[0]!.outcome;
}

test('a backup in the in-sync set answers a read that allows any replica from its own copy', () => {
  const outcome = anyRead(backupB({ primary: 'A', backups: ['B'], inSync: ['A', 'B'] }));
  assert.ok(outcome.ok, JSON.stringify(outcome));
});

test('a backup still catching up sends a read that allows any replica to the primary', () => {
  const outcome = anyRead(backupB({ primary: 'A', backups: ['B'], inSync: ['A'] }));
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, 'NOT_PRIMARY');
});

test('a fresh copy of a partition that lost every in-sync copy answers UNAVAILABLE, not null', () => {
  const outcome = anyRead(backupB({ primary: null, backups: ['B'], inSync: [] }));
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, 'UNAVAILABLE');
});
