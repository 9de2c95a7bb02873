import test from 'node:test';
import assert from 'node:assert/strict';
import { checkCommutative } from './commutative.js';
import { add, read } from './fixtures.js';

test('reads containing every acknowledged addition pass', () => {
  const result = checkCommutative([
    add(0, 'a', 0, 1),
    add(1, { x: 1 }, 0, 2),
    read(2, [{ x: 1 }, 'a'], 3, 4),
  ]);
  assert.equal(result.ok, true);
});

test('an acknowledged addition missing from a later read is a lost addition', () => {
  const result = checkCommutative([add(0, 'a', 0, 1), add(1, 'b', 0, 2), read(2, ['b'], 3, 4)]);
  assert.equal(result.ok, false);
  assert.match(result.violations[0]?.description ?? '', /lost addition of "a"/);
});

test('a read concurrent with an addition may miss it', () => {
  assert.equal(checkCommutative([add(0, 'a', 0, 10), read(1, [], 2, 3)]).ok, true);
});

test('an addition with unknown outcome may be missing', () => {
  assert.equal(checkCommutative([add(0, 'a', 0), read(1, null, 2, 3)]).ok, true);
});

test('an addition with unknown outcome may be present', () => {
  assert.equal(checkCommutative([add(0, 'a', 0), read(1, ['a'], 2, 3)]).ok, true);
});

test('an element nobody added before the read returned is refused', () => {
  const result = checkCommutative([read(1, ['a'], 0, 1), add(0, 'a', 2, 3)]);
  assert.equal(result.ok, false);
  assert.match(result.violations[0]?.description ?? '', /no add had been called/);
});
