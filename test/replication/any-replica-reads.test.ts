/**
 * Which copies answer a read that allows any replica (`readFrom: 'any'`): a backup in the
 * in-sync set whose position this epoch's primary has confirmed, from its own copy; never a
 * copy still being built, which may lack any key (found by
 * test/cluster/primary-and-backup-lost.test.ts: a fresh copy of a partition that had lost
 * both its copies answered `null` for a key that held an acknowledged value); never a copy
 * the primary has not confirmed, which may hold writes the primary never had (an old primary
 * after a hand-over showed its unreplicated write, never acknowledged, until the state
 * transfer from its successor rolled it back).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { DataPlane, PartitionPlacement } from '../../src/replication/index.js';
import { TwoNodes, testPlane } from './two-planes.js';
import type { Outcome } from '../../src/store/index.js';
import { dec } from '../store/helpers.js';

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

let nextReadId = 1_000_000;

/** A read of `key` at `node` that allows any replica; the value it shows, or its error code. */
function anyReadAt(c: TwoNodes, node: string, key: string, now: number): unknown {
  const requestId = nextReadId++;
  c.collect(node, c.plane(node).execute(requestId, { op: 'get', key }, now, { anyReplica: true }));
  const outcome = c.replies.get(requestId)!;
  if (!outcome.ok) return outcome.code;
  assert.equal(outcome.result.op, 'get');
  return outcome.result.op === 'get' && outcome.result.entry !== null
    ? dec(outcome.result.entry.value)
    : null;
}

test('a backup in the in-sync set answers a read that allows any replica from its own copy', () => {
  const { c, now } = TwoNodes.placed({
    epoch: 1,
    primary: 'A',
    backups: ['B'],
    inSync: ['A', 'B'],
  });
  c.set('A', 'k', 'v', now, 'sync');
  c.deliver(now);
  assert.equal(anyReadAt(c, 'B', 'k', now), 'v');
});

test('a backup in the in-sync set that has not heard from its primary sends a read that allows any replica to the primary', () => {
  const outcome = anyRead(backupB({ primary: 'A', backups: ['B'], inSync: ['A', 'B'] }));
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, 'NOT_PRIMARY');
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

/**
 * A primary A whose last write B never received (B paused) hands the partition to B: A stays
 * an in-sync backup of epoch 2 with that write in its copy, which B's state transfer will take
 * back. The write was answered in doubt, never acknowledged.
 */
function handedOverWithAWriteOnlyTheOldPrimaryHeld(): { c: TwoNodes; now: number } {
  const epoch1: PartitionPlacement = { epoch: 1, primary: 'A', backups: ['B'], inSync: ['A', 'B'] };
  const { c, now } = TwoNodes.placed(epoch1);
  const acknowledged = c.set('A', 'k', 'acknowledged', now, 'sync');
  c.deliver(now);
  assert.equal(c.replies.get(acknowledged)?.ok, true);
  c.paused.add('B');
  const lost = c.set('A', 'k', 'never acknowledged', now, 'sync');
  c.deliver(now);
  c.paused.delete('B');
  const epoch2: PartitionPlacement = { epoch: 2, primary: 'B', backups: ['A'], inSync: ['A', 'B'] };
  c.table('A', 2, epoch2, now);
  c.table('B', 2, epoch2, now);
  const answer = c.replies.get(lost);
  assert.ok(answer?.ok === false && answer.meta?.inDoubt === true, JSON.stringify(answer));
  return { c, now };
}

test('an old primary holding a write its successor never had does not show it to a read that allows any replica', () => {
  const { c, now } = handedOverWithAWriteOnlyTheOldPrimaryHeld();
  // Before B's first append reaches A, and at every step of the transfer that follows.
  assert.equal(anyReadAt(c, 'A', 'k', now), 'NOT_PRIMARY');
  while (c.inbox.length > 0) {
    const { to, from, message } = c.inbox.shift()!;
    c.collect(to, c.plane(to).receive(from, message as never, now));
    c.collect(to, c.plane(to).flush());
    assert.notEqual(anyReadAt(c, 'A', 'k', now), 'never acknowledged');
  }
});

test('an old primary answers reads that allow any replica again once it holds its successor’s state', () => {
  const { c, now } = handedOverWithAWriteOnlyTheOldPrimaryHeld();
  c.deliver(now);
  assert.equal(anyReadAt(c, 'A', 'k', now), 'acknowledged');
});

test('a backup holding a write its newly promoted peer missed does not show it to a read that allows any replica', () => {
  const epoch1: PartitionPlacement = {
    epoch: 1,
    primary: 'A',
    backups: ['B', 'C'],
    inSync: ['A', 'B', 'C'],
  };
  const { c, now } = TwoNodes.placed(epoch1, ['A', 'B', 'C']);
  const acknowledged = c.set('A', 'k', 'acknowledged', now, 'sync');
  c.deliver(now);
  assert.equal(c.replies.get(acknowledged)?.ok, true);
  // B takes the next write, C misses it, and A dies before it is acknowledged: C is promoted.
  c.paused.add('C');
  c.set('A', 'k', 'never acknowledged', now, 'sync');
  c.deliver(now);
  assert.equal(anyReadAt(c, 'B', 'k', now), 'never acknowledged', 'B took it in epoch 1');
  c.paused.delete('C');
  c.paused.add('A');
  const epoch2: PartitionPlacement = { epoch: 2, primary: 'C', backups: ['B'], inSync: ['B', 'C'] };
  c.table('B', 2, epoch2, now);
  c.table('C', 2, epoch2, now);
  assert.equal(anyReadAt(c, 'B', 'k', now), 'NOT_PRIMARY');
  c.deliver(now);
  assert.equal(anyReadAt(c, 'B', 'k', now), 'acknowledged');
});
