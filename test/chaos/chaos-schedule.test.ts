/**
 * The chaos run's schedule and judgements (test/chaos/schedule.ts): one seed gives one
 * schedule, every round covers every fault kind, the partitions cut what their names say, and
 * a stale read is told from a concurrent one.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/random.js';
import { pairOperations, type HistoryEvent } from '../sim/checker/index.js';
import { cutsFor, faultKinds, planFaults, staleReads, type PlannedFault } from './schedule.js';

test('one seed gives the same fault schedule every time, and another seed another', () => {
  assert.deepEqual(planFaults(7, 30), planFaults(7, 30));
  assert.notDeepEqual(planFaults(7, 30), planFaults(8, 30));
});

test('every round of the schedule has every fault kind once, each held within its bounds', () => {
  const plan = planFaults(42, faultKinds.length * 3, 6_000, 12_000);
  for (let round = 0; round < 3; round++) {
    const kinds = plan.slice(round * faultKinds.length, (round + 1) * faultKinds.length);
    assert.deepEqual(kinds.map((f) => f.kind).sort(), [...faultKinds].sort());
  }
  assert.ok(plan.every((f) => f.holdMs >= 6_000 && f.holdMs <= 12_000));
});

const fault = (kind: PlannedFault['kind'], extra: Partial<PlannedFault> = {}): PlannedFault => ({
  index: 1,
  kind,
  holdMs: 1,
  mode: 'hold',
  drainBy: 'command',
  direction: 'out',
  ...extra,
});
const live = ['n1', 'n2', 'n3', 'n4', 'n5'];

test('a minority partition leaves the leader with the majority; the leader-in-minority one does not', () => {
  for (let seed = 1; seed < 20; seed++) {
    const a = cutsFor(fault('partition-minority'), live, 'n3', 'n1', new SeededRandom(seed));
    assert.equal(a.cuts[0]!.from.length, 2);
    assert.ok(!a.cuts[0]!.from.includes('n3') && a.cuts[0]!.to.includes('n3'));
    const b = cutsFor(
      fault('partition-leader-in-minority'),
      live,
      'n3',
      'n1',
      new SeededRandom(seed),
    );
    assert.ok(b.cuts[0]!.from.includes('n3') && b.cuts[0]!.from.length === 2);
    assert.equal(b.cuts[0]!.to.length, 3);
  }
});

test('a bridge partition cuts two halves from each other and leaves one node reaching both', () => {
  const { cuts } = cutsFor(fault('bridge'), live, 'n1', 'n1', new SeededRandom(3));
  const cut = cuts[0]!;
  assert.equal(cut.from.length + cut.to.length, 4);
  assert.ok(!cut.oneWay);
  const bridge = live.filter((n) => !cut.from.includes(n) && !cut.to.includes(n));
  assert.equal(bridge.length, 1);
});

test('a one-way fault cuts only the chosen node sending, or only it receiving', () => {
  const out = cutsFor(
    fault('one-way', { direction: 'out' }),
    live,
    'n1',
    'n2',
    new SeededRandom(1),
  );
  assert.deepEqual(out.cuts, [{ from: ['n2'], to: ['n1', 'n3', 'n4', 'n5'], oneWay: true }]);
  const inward = cutsFor(
    fault('one-way', { direction: 'in' }),
    live,
    'n1',
    'n2',
    new SeededRandom(1),
  );
  assert.deepEqual(inward.cuts, [{ from: ['n1', 'n3', 'n4', 'n5'], to: ['n2'], oneWay: true }]);
});

test('a read older than a write acknowledged before it began is stale; one overlapping the write is not', () => {
  const e = (
    process: number,
    type: HistoryEvent['type'],
    f: HistoryEvent['f'],
    value: unknown,
    time: number,
  ): HistoryEvent => ({ process, type, f, key: 'k', value, time });
  const operations = pairOperations([
    e(0, 'invoke', 'write', 1, 0),
    e(0, 'ok', 'write', null, 1),
    e(0, 'invoke', 'write', 2, 2),
    e(1, 'invoke', 'read', null, 3), // overlaps the write of 2: 1 is allowed
    e(1, 'ok', 'read', 1, 4),
    e(0, 'ok', 'write', null, 5),
    e(1, 'invoke', 'read', null, 6), // after the write of 2 was acknowledged: 1 is stale
    e(1, 'ok', 'read', 1, 7),
    e(1, 'invoke', 'read', null, 8), // absent after a write was acknowledged: stale too
    e(1, 'ok', 'read', null, 9),
    e(1, 'invoke', 'read', null, 10),
    e(1, 'ok', 'read', 2, 11),
  ]);
  assert.deepEqual(
    staleReads(operations).map((op) => op.call),
    [6, 8],
  );
});
