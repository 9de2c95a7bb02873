/**
 * What a node does with a copy the table takes away from it (a rebalance moved it, a drain,
 * `lostCopies`): it gives the memory back, and if the partition comes back to it later, it
 * starts from a full copy, never from what it kept.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { PartitionPlacement } from '../../src/replication/index.js';
import { TwoNodes } from './two-planes.js';
import { dec } from '../store/helpers.js';

const withB: PartitionPlacement = { epoch: 1, primary: 'A', backups: ['B'], inSync: ['A', 'B'] };
const withoutB: PartitionPlacement = { epoch: 2, primary: 'A', backups: [], inSync: ['A'] };

function replicatedPair(): { c: TwoNodes; now: number } {
  const { c, now } = TwoNodes.placed(withB);
  for (let i = 0; i < 50; i++) c.set('A', `k${i}`, 'x'.repeat(1_000), now, 'sync');
  c.deliver(now);
  return { c, now };
}

test('a node whose copy the table removes gives the copy’s memory back', () => {
  const { c, now } = replicatedPair();
  assert.ok(c.plane('B').budget.usedBytes > 50_000, 'the backup holds the writes');
  c.table('A', 2, withoutB, now);
  c.table('B', 2, withoutB, now);
  assert.equal(c.plane('B').budget.usedBytes, 0);
});

test('a copy given back to a node that held it before is rebuilt with every write since', () => {
  const { c, now: t } = replicatedPair();
  c.table('A', 2, withoutB, t);
  c.table('B', 2, withoutB, t);
  let now = t;
  for (; now <= t + 200; now += 50) c.step(now);
  c.set('A', 'k0', 'changed', now, 'sync');
  c.set('A', 'new', 'value', now, 'sync');
  c.deliver(now);
  const back: PartitionPlacement = { epoch: 3, primary: 'A', backups: ['B'], inSync: ['A'] };
  c.table('A', 3, back, now);
  c.table('B', 3, back, now);
  for (; now <= t + 2_000; now += 50) c.step(now);
  // B now takes over: it must hold exactly what A acknowledged.
  const promoted: PartitionPlacement = { epoch: 4, primary: 'B', backups: [], inSync: ['B'] };
  c.paused.add('A');
  now += 1_000;
  c.table('B', 4, promoted, now);
  for (let end = now + 1_000; now <= end; now += 50) c.step(now);
  const read = (key: string): unknown => {
    const outcome = c.get('B', key, now);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const entry = outcome.result.op === 'get' ? outcome.result.entry : null;
    return entry === null ? null : dec(entry.value);
  };
  assert.equal(read('k0'), 'changed');
  assert.equal(read('new'), 'value');
  assert.equal(read('k49'), 'x'.repeat(1_000));
});
