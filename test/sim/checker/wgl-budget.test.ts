import test from 'node:test';
import assert from 'node:assert/strict';
import { read, write } from './fixtures.js';
import type { Operation } from './history.js';
import { registerModel } from './models.js';
import { checkLinearizable } from './wgl.js';

/**
 * 40 concurrent writes of distinct values and a concurrent read of a value none of them
 * wrote: refuting it means trying every subset of writes before the read, 2^40 of them.
 */
function pathological(key = 'k'): Operation[] {
  const ops: Operation[] = [];
  for (let i = 0; i < 40; i++) ops.push(write(i, i, i, 1000 + i, key));
  ops.push(read(40, 'never written', 0, 2000, key));
  return ops;
}

test('a search past its step budget answers unknown instead of hanging', () => {
  const started = Date.now();
  const result = checkLinearizable(pathological(), registerModel, { stepsPerKeyMax: 100_000 });
  assert.deepEqual(result.unknownKeys, ['k']);
  assert.equal(result.perKey[0]?.result, 'unknown');
  assert.equal(result.perKey[0]?.steps, 100_000);
  assert.equal(result.violations.length, 0);
  assert.ok(Date.now() - started < 5000, 'the budget bounds the time too');
});

test('an unknown key makes the whole result not ok', () => {
  const result = checkLinearizable(pathological(), registerModel, { stepsPerKeyMax: 1000 });
  assert.equal(result.ok, false);
});

test('the budget is per key, so other keys are still decided', () => {
  const result = checkLinearizable(
    [...pathological('hard'), write(0, 1, 0, 1, 'easy'), read(0, 2, 2, 3, 'easy')],
    registerModel,
    { stepsPerKeyMax: 1000 },
  );
  assert.deepEqual(result.unknownKeys, ['hard']);
  assert.deepEqual(
    result.violations.map((v) => v.key),
    ['easy'],
  );
});

test('a budget that is not a positive integer is refused', () => {
  assert.throws(
    () => checkLinearizable([], registerModel, { stepsPerKeyMax: 0 }),
    /stepsPerKeyMax must be a positive integer/,
  );
});
