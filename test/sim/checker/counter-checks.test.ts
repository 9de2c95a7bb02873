import test from 'node:test';
import assert from 'node:assert/strict';
import { checkCommutative } from './commutative.js';
import { incr, read, write } from './fixtures.js';

test('a final read equal to the sum of acknowledged increments passes', () => {
  const result = checkCommutative([incr(0, 1, 0, 1), incr(1, 2, 0, 2), read(2, 3, 5, 6)]);
  assert.equal(result.ok, true);
  assert.deepEqual(
    result.finals.map((f) => [f.min, f.max]),
    [[3, 3]],
  );
});

test('a lost acknowledged increment is caught', () => {
  const result = checkCommutative([incr(0, 1, 0, 1), incr(1, 1, 2, 3), read(2, 1, 5, 6)]);
  assert.equal(result.ok, false);
  assert.match(result.violations[0]?.description ?? '', /saw 1, but .* allow only \[2, 2\]/);
});

test('an increment with unknown outcome may count', () => {
  const result = checkCommutative([incr(0, 1, 0, 1), incr(1, 5, 2), read(2, 6, 10, 11)]);
  assert.equal(result.ok, true);
});

test('an increment with unknown outcome may not count', () => {
  const result = checkCommutative([incr(0, 1, 0, 1), incr(1, 5, 2), read(2, 1, 10, 11)]);
  assert.equal(result.ok, true);
});

test('the final range spans every subset of the increments with unknown outcome', () => {
  const result = checkCommutative([
    incr(0, 10, 0, 1),
    incr(1, 5, 2),
    incr(2, -3, 2),
    read(3, 10, 10, 11),
  ]);
  assert.deepEqual(
    result.finals.map((f) => [f.min, f.max]),
    [[7, 15]],
  );
});

test('a read counts an unknown increment only if it was called before the read returned', () => {
  const result = checkCommutative([incr(0, 1, 0, 1), read(2, 2, 2, 3), incr(1, 1, 5)]);
  assert.equal(result.ok, false);
});

test('an intermediate read may see a concurrent increment or not', () => {
  const ops = (seen: number) => [incr(0, 1, 0, 1), incr(1, 1, 2, 10), read(2, seen, 3, 4)];
  assert.equal(checkCommutative(ops(1)).ok, true);
  assert.equal(checkCommutative(ops(2)).ok, true);
  assert.equal(checkCommutative(ops(3)).ok, false);
});

test('an absent counter reads as zero', () => {
  assert.equal(checkCommutative([read(0, null, 0, 1), incr(0, 1, 2, 3)]).ok, true);
});

test('a counter that is also written is refused as a workload bug', () => {
  assert.throws(() => checkCommutative([incr(0, 1, 0, 1), write(0, 0, 2, 3)]), /mixes/);
});
