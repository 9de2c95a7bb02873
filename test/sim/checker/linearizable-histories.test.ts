import test from 'node:test';
import assert from 'node:assert/strict';
import { cas, del, read, write } from './fixtures.js';
import type { Operation } from './history.js';
import { registerModel } from './models.js';
import { checkLinearizable } from './wgl.js';

function assertLinearizable(ops: Operation[]): void {
  const result = checkLinearizable(ops, registerModel);
  assert.deepEqual(result.violations, [], result.violations[0]?.description);
  assert.equal(result.ok, true);
}

test('an empty history is linearizable', () => {
  assertLinearizable([]);
});

test('a sequential history that reads back each write is linearizable', () => {
  assertLinearizable([
    read(0, null, 0, 1),
    write(0, 1, 2, 3),
    read(1, 1, 4, 5),
    write(1, { a: [1, 2] }, 6, 7),
    read(0, { a: [1, 2] }, 8, 9),
    del(0, 10, 11),
    read(1, null, 12, 13),
  ]);
});

test('a read overlapping a write may see the old value', () => {
  assertLinearizable([write(0, 1, 0, 1), write(0, 2, 10, 20), read(1, 1, 12, 18)]);
});

test('a read overlapping a write may see the new value', () => {
  assertLinearizable([write(0, 1, 0, 1), write(0, 2, 10, 20), read(1, 2, 12, 18)]);
});

test('overlapping operations may take effect in the opposite order to their calls', () => {
  // Write 1 is called first, but the read that begins after both returned sees 1, so write 2
  // must have taken effect before write 1: the search has to reorder them.
  assertLinearizable([write(0, 1, 0, 10), write(1, 2, 1, 9), read(2, 1, 11, 12)]);
});

test('a reorder that only a later read reveals is found by backtracking', () => {
  // Reads during the overlap see 2 then 1, then 2 again only after a third write.
  assertLinearizable([
    write(0, 1, 0, 10),
    write(1, 2, 0, 10),
    read(2, 2, 1, 2),
    read(2, 1, 3, 4),
    write(2, 2, 11, 12),
    read(0, 2, 13, 14),
  ]);
});

test('object values match whatever the order of their keys', () => {
  assertLinearizable([write(0, { a: 1, b: 2 }, 0, 1), read(1, { b: 2, a: 1 }, 2, 3)]);
});

test('a write with unknown outcome that later becomes visible is linearizable', () => {
  assertLinearizable([write(0, 1, 0, 1), write(1, 2, 2), read(2, 1, 3, 4), read(2, 2, 50, 51)]);
});

test('a write with unknown outcome that never becomes visible is linearizable', () => {
  assertLinearizable([write(0, 1, 0, 1), write(1, 2, 2), read(2, 1, 3, 4), read(2, 1, 50, 51)]);
});

test('a write with unknown outcome need not precede reads that return after it was called', () => {
  // The info write is called first; reads of the old value follow for a long time.
  assertLinearizable([write(1, 9, 0), read(0, null, 1, 2), read(0, null, 3, 4)]);
});

test('a chain of cas operations, each expecting the previous value, is linearizable', () => {
  assertLinearizable([
    write(0, 0, 0, 1),
    cas(1, 0, 1, 2, 3),
    cas(2, 1, 2, 4, 5),
    cas(0, 2, 3, 6, 7),
    read(1, 3, 8, 9),
  ]);
});

test('concurrent cas operations linearize in the one order their expectations allow', () => {
  assertLinearizable([
    write(0, 0, 0, 1),
    cas(3, 2, 3, 2, 20),
    cas(2, 1, 2, 2, 20),
    cas(1, 0, 1, 2, 20),
    read(0, 3, 21, 22),
  ]);
});

test('a cas with unknown outcome may have succeeded', () => {
  assertLinearizable([write(0, 0, 0, 1), cas(1, 0, 5, 2), read(2, 5, 10, 11)]);
});

test('a cas with unknown outcome may have found a mismatch', () => {
  assertLinearizable([write(0, 0, 0, 1), cas(1, 0, 5, 2), read(2, 0, 10, 11)]);
});

test('keys are checked independently', () => {
  const result = checkLinearizable(
    [write(0, 1, 0, 1, 'a'), write(1, 2, 0, 1, 'b'), read(2, 1, 2, 3, 'a'), read(2, 2, 4, 5, 'b')],
    registerModel,
  );
  assert.equal(result.ok, true);
  assert.equal(result.keys, 2);
  assert.equal(result.operations, 4);
});
