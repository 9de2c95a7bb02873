/**
 * The lease rules of replication/leases.ts, on two real DataPlanes and a network the test
 * delivers by hand: a paused primary wakes up, still believing it leads, and must not answer.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { PartitionPlacement } from '../../src/replication/index.js';
import { partitionOf } from '../../src/core/keys.js';
import { TwoNodes, leaseMs, partitions } from './two-planes.js';

const key = 'cart:1';
assert.equal(partitionOf(key, partitions), 0);

const epoch1: PartitionPlacement = { epoch: 1, primary: 'A', backups: ['B'], inSync: ['A', 'B'] };
const epoch2: PartitionPlacement = { epoch: 2, primary: 'B', backups: [], inSync: ['B'] };

function cluster(): { c: TwoNodes; now: number } {
  const { c, now } = TwoNodes.placed(epoch1);
  const id = c.set('A', key, 'v1', now, 'sync');
  c.deliver(now);
  assert.deepEqual(c.replies.get(id)?.ok, true, 'the first write is acknowledged');
  return { c, now };
}

test('a primary whose copies vouched for it recently serves reads', () => {
  const { c, now } = cluster();
  assert.equal(c.get('A', key, now).ok, true);
});

test('a primary paused past its lease answers UNAVAILABLE when it wakes, before it learns of the new epoch', () => {
  const { c, now: t } = cluster();
  c.paused.add('A');
  // B is promoted (the control plane declared A dead) and takes writes A never saw.
  let now = t + 700;
  c.table('B', 2, epoch2, now);
  for (; now <= t + 1_300; now += 50) c.step(now);
  const write = c.set('B', key, 'v2', now, 'sync');
  c.deliver(now);
  assert.equal(c.replies.get(write)?.ok, true, 'the new primary serves');
  // A wakes: a request already waiting is executed before any tick or table arrives.
  c.paused.delete('A');
  const read = c.get('A', key, now);
  assert.equal(read.ok, false, `the old primary answered ${JSON.stringify(read)}`);
  assert.equal(read.ok === false && read.code, 'UNAVAILABLE');
  const async = c.set('A', key, 'stale', now, 'async');
  assert.equal(c.replies.get(async)?.ok, false, 'nor does it take an async write');
});

test('a new primary does not serve while the old one may still hold a grant from it', () => {
  const { c, now: t } = cluster();
  // A is cut off right after B echoed its last ping; B is promoted at once (a hand-off).
  c.paused.add('A');
  c.table('B', 2, epoch2, t);
  const early = c.get('B', key, t + 10);
  assert.equal(early.ok === false && early.code, 'UNAVAILABLE', 'A may still serve: wait');
  const later = c.get('B', key, t + Math.ceil(leaseMs * 1.2) + 1);
  assert.equal(later.ok, true, 'once every grant B gave has run out, B serves');
});

test('a hand-off settles as soon as the old primary says it applied the change', () => {
  const { c, now: t } = cluster();
  c.table('B', 2, { ...epoch2, backups: ['A'], inSync: ['B', 'A'] }, t);
  c.table('A', 2, { ...epoch2, backups: ['A'], inSync: ['B', 'A'] }, t);
  c.step(t + 50);
  c.step(t + 100);
  const read = c.get('B', key, t + 100);
  assert.equal(read.ok, true, `well before the grant wait: ${JSON.stringify(read)}`);
});

test('a primary that led the epoch just before serves the next one at once', () => {
  const { c, now: t } = cluster();
  // A placement change that keeps A primary (epoch 2). B has not pinged since: a node new to
  // the role would wait for it, or for the grant it gave B to run out.
  c.table('A', 2, { ...epoch1, epoch: 2 }, t + 10);
  c.table('B', 2, { ...epoch1, epoch: 2 }, t + 10);
  const read = c.get('A', key, t + 10);
  // Answered, or waiting for B to confirm the new epoch's stream; not refused.
  assert.ok(read === undefined || read.ok, `nobody else led in between: ${JSON.stringify(read)}`);
});

test('a primary that missed an epoch in which another led waits out the grants it gave', () => {
  const { c, now: t } = cluster();
  // Epoch 2 made B primary and epoch 3 gave A the role back; A applied only epoch 3.
  c.table('A', 3, { ...epoch1, epoch: 3 }, t + 10);
  const read = c.get('A', key, t + 10);
  assert.equal(read.ok === false && read.code, 'UNAVAILABLE', 'B may have led: wait');
});
