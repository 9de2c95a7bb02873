import test from 'node:test';
import assert from 'node:assert/strict';
import { cas, read, write } from './fixtures.js';
import type { Operation } from './history.js';
import { registerModel } from './models.js';
import { checkLinearizable, type Violation } from './wgl.js';

function violationOf(ops: Operation[]): Violation {
  const result = checkLinearizable(ops, registerModel);
  assert.equal(result.ok, false);
  assert.equal(result.violations.length, 1);
  return result.violations[0] as Violation;
}

test('a read that begins after a write returned and sees the old value is a violation', () => {
  const stale = read(1, 1, 4, 5);
  const v = violationOf([write(0, 1, 0, 1), write(0, 2, 2, 3), stale]);
  assert.equal(v.operation, stale);
  assert.equal(v.longestPrefix.length, 2);
  assert.equal(v.stateAfterPrefix, '2');
});

test('an acknowledged write that a later read does not show is a lost write', () => {
  const v = violationOf([
    write(0, 'old', 0, 1),
    write(1, 'acked', 2, 3),
    read(2, 'acked', 4, 5),
    read(2, 'old', 6, 7),
  ]);
  assert.match(v.description, /the read returned "old" but the register held "acked"/);
});

test('two reads that disagree on the order of a write are a violation', () => {
  // Read A sees the new value; read B begins after A returned and sees the old one, while the
  // write is still in flight. Either order of the write contradicts one read.
  const v = violationOf([
    write(0, 'old', 0, 1),
    write(1, 'new', 2, 20),
    read(2, 'new', 3, 4),
    read(3, 'old', 5, 6),
  ]);
  assert.match(v.description, /not linearizable/);
});

test('a cas that succeeded on a value that was never there is a violation', () => {
  const bad = cas(1, 7, 8, 2, 3);
  const v = violationOf([write(0, 1, 0, 1), bad, read(2, 8, 4, 5)]);
  assert.equal(v.operation, bad);
  assert.match(v.description, /the cas succeeded expecting 7 but the register held 1/);
});

test('a read of a value nobody wrote is a violation even with unknown writes around', () => {
  violationOf([write(0, 1, 0), write(1, 2, 0), read(2, 3, 5, 6)]);
});

test('a write with unknown outcome cannot be seen before it was called', () => {
  violationOf([read(0, 5, 0, 1), write(1, 5, 2)]);
});

test('a violation report names the prefix, the blocked operation and the model state', () => {
  const v = violationOf([write(0, 1, 0, 1), write(0, 2, 2, 3), read(1, 1, 4, 5)]);
  assert.equal(
    v.description,
    [
      'key "k" is not linearizable.',
      'The longest linearizable prefix has 2 of 3 operations:',
      '  1. process 0: write "k" 1 [0, 1]',
      '  2. process 0: write "k" 2 [2, 3]',
      'after which the state is 2.',
      'Next, this operation must take effect (it returned before anything still unplaced began):',
      '  process 1: read "k" => 1 [4, 5]',
      'The model refuses it: the read returned 1 but the register held 2.',
    ].join('\n'),
  );
});

test('only the key with the violation is reported', () => {
  const result = checkLinearizable(
    [write(0, 1, 0, 1, 'good'), read(0, 1, 2, 3, 'good'), read(1, 9, 0, 1, 'bad')],
    registerModel,
  );
  assert.deepEqual(
    result.violations.map((v) => v.key),
    ['bad'],
  );
  assert.deepEqual(
    result.perKey.map((k) => [k.key, k.result]),
    [
      ['good', 'ok'],
      ['bad', 'violation'],
    ],
  );
});
