/**
 * Regression, found by `npm run chaos` (seed 1474107191, fault 23): a bridge node that was
 * also the Raft leader heard both sides of a cut, so nobody was declared dead, and 25
 * partitions with their primary on one side and their backup on the other took no write
 * for the 9 s of the cut. The primaries reported their backups lagging and the leader took
 * them out of the in-sync set, yet a primary still needed a lease grant from every backup,
 * in sync or not, and kept waiting for the acknowledgements of a backup it had once
 * reported caught up. Now the grants it needs are those of the copies that can be promoted
 * over it: the in-sync set, and the backups it reported caught up in this epoch (the leader
 * may have committed them in sync before this primary hears of it). Taking a backup out of
 * sync starts a new epoch, which ends the latter. And a primary that lost its lease reports
 * the copies that stopped vouching for it lagging: without a lease it takes no write, so
 * nothing else would (primary-cut-from-its-backup-by-a-bridge-leader, end to end).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { PartitionPlacement } from '../../src/replication/index.js';
import { partitionOf } from '../../src/core/keys.js';
import { TwoNodes, leaseMs, partitions } from './two-planes.js';

const key = 'cart:1';
assert.equal(partitionOf(key, partitions), 0);

const building: PartitionPlacement = { epoch: 1, primary: 'A', backups: ['B'], inSync: ['A'] };
const inSync: PartitionPlacement = { ...building, inSync: ['A', 'B'] };
const outOfSync: PartitionPlacement = { epoch: 2, primary: 'A', backups: ['B'], inSync: ['A'] };

/** A has built B's copy and reported it caught up; the table may say B is in sync, or not yet. */
function caughtUp(tableSaysInSync: boolean): { c: TwoNodes; now: number } {
  const { c, now: t } = TwoNodes.placed(building);
  let now = t;
  const id = c.set('A', key, 'v1', now, 'sync');
  for (; now <= t + 500; now += 50) c.step(now);
  assert.equal(c.replies.get(id)?.ok, true, 'the write is acknowledged');
  if (tableSaysInSync) {
    c.table('A', 2, inSync, now);
    c.table('B', 2, inSync, now);
    c.step(now);
  }
  return { c, now };
}

test('a primary serves again once the table takes its silent backup out of sync', () => {
  const { c, now: t } = caughtUp(true);
  c.paused.add('B');
  let now = t;
  for (; now <= t + 2_500; now += 50) c.step(now);
  assert.equal(c.get('A', key, now).ok, false, 'without a grant from B, A does not serve');
  c.table('A', 3, outOfSync, now);
  c.step(now);
  const write = c.set('A', key, 'v2', now, 'sync');
  c.step(now);
  assert.equal(c.replies.get(write)?.ok, true, 'a sync write no longer waits for B');
  assert.equal(c.get('A', key, now).ok, true, 'and A serves reads');
});

test('a primary refusing clients for want of a lease reports the silent copy lagging', () => {
  const { c, now: t } = caughtUp(true);
  c.paused.add('B');
  const lagging = (now: number) =>
    c
      .plane('A')
      .tick(now)
      .reports.lagging.map((r) => r.node);
  assert.equal(c.get('A', key, t + 1_000).ok, false, 'no lease: refused');
  assert.deepEqual(lagging(t + 1_000), [], 'not within ackTimeoutMs');
  assert.equal(c.get('A', key, t + 2_500).ok, false);
  assert.deepEqual(lagging(t + 2_500), ['B'], 'no write pending, yet reported');
});

test('an idle primary keeps a silent copy in sync, to fail over to', () => {
  const { c, now: t } = caughtUp(true);
  c.paused.add('B');
  assert.deepEqual(c.plane('A').tick(t + 2_500).reports.lagging, []);
});

test('a backup the primary reported caught up must vouch for it before the table says it is in sync', () => {
  const { c, now: t } = caughtUp(false);
  c.paused.add('B');
  const read = c.get('A', key, t + leaseMs + 100);
  assert.equal(read.ok === false && read.code, 'UNAVAILABLE');
});

test('a backup neither in sync nor reported caught up does not hold its primary back', () => {
  const c = new TwoNodes();
  c.paused.add('B');
  c.table('A', 1, building, 0);
  let now = 0;
  for (; now <= 2 * leaseMs; now += 50) c.step(now);
  assert.equal(c.get('A', key, now).ok, true);
});
