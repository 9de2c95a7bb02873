/**
 * Found by the chaos run: a sync write caught at a primary that is then cut off from its
 * backup was answered only when the caller's deadline ran out, because the primary can
 * neither be acknowledged nor hear of the epoch change that would fail the write. Once its
 * lease has lapsed, it now gives such replies up after a lease: the write in doubt, a read to
 * be asked again.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { PartitionPlacement } from '../../src/replication/index.js';
import type { Outcome } from '../../src/store/index.js';
import { partitionOf } from '../../src/core/keys.js';
import { TwoNodes, leaseMs, partitions } from './two-planes.js';

const key = 'cart:1';
assert.equal(partitionOf(key, partitions), 0);
const placement: PartitionPlacement = {
  epoch: 1,
  primary: 'A',
  backups: ['B'],
  inSync: ['A', 'B'],
};

function cutOffPrimary(): { c: TwoNodes; now: number } {
  const { c, now } = TwoNodes.placed(placement);
  // B is gone from A's point of view: it neither acknowledges nor echoes pings.
  c.paused.add('B');
  return { c, now };
}

function runFor(c: TwoNodes, from: number, ms: number): number {
  let now = from;
  for (; now <= from + ms; now += 50) c.step(now);
  return now;
}

function inDoubt(outcome: Outcome | undefined): boolean | undefined {
  return outcome?.ok === false ? outcome.meta?.inDoubt : undefined;
}

test('a sync write at a primary cut off from its backup is answered in doubt once the lease lapsed', () => {
  const { c, now } = cutOffPrimary();
  const write = c.set('A', key, 'v1', now, 'sync');
  c.deliver(now);
  assert.equal(c.replies.get(write), undefined, 'waits for B while the lease lasts');
  runFor(c, now, 3 * leaseMs);
  const answer = c.replies.get(write);
  assert.equal(answer?.ok === false && answer.code, 'UNAVAILABLE', JSON.stringify(answer));
  assert.equal(inDoubt(answer), true);
});

test('a read waiting behind that write is answered UNAVAILABLE, not in doubt', () => {
  const { c, now } = cutOffPrimary();
  c.set('A', key, 'v1', now, 'sync');
  const requestId = 1_000;
  c.collect('A', c.plane('A').execute(requestId, { op: 'get', key }, now));
  runFor(c, now, 3 * leaseMs);
  const answer = c.replies.get(requestId);
  assert.equal(answer?.ok === false && answer.code, 'UNAVAILABLE', JSON.stringify(answer));
  assert.equal(inDoubt(answer), undefined);
});

test('a sync write whose backup comes back within the lease is acknowledged', () => {
  const { c, now } = cutOffPrimary();
  const write = c.set('A', key, 'v1', now, 'sync');
  c.deliver(now);
  c.paused.delete('B');
  runFor(c, now, leaseMs / 2);
  assert.equal(c.replies.get(write)?.ok, true);
});
