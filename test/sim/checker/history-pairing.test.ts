import test from 'node:test';
import assert from 'node:assert/strict';
import { MalformedHistoryError, pairOperations, type HistoryEvent } from './history.js';

function ev(
  process: number,
  type: HistoryEvent['type'],
  f: HistoryEvent['f'],
  value: unknown,
  time: number,
  key = 'k',
): HistoryEvent {
  return { process, type, f, key, value, time };
}

test('an invoke and its ok become one operation with the arguments and the result', () => {
  const ops = pairOperations([
    ev(0, 'invoke', 'cas', [1, 2], 10),
    ev(1, 'invoke', 'read', null, 11),
    ev(1, 'ok', 'read', 1, 12),
    ev(0, 'ok', 'cas', null, 13),
  ]);
  assert.deepEqual(ops, [
    {
      process: 0,
      f: 'cas',
      key: 'k',
      input: [1, 2],
      output: null,
      call: 10,
      ret: 13,
      status: 'ok',
    },
    { process: 1, f: 'read', key: 'k', input: null, output: 1, call: 11, ret: 12, status: 'ok' },
  ]);
});

test('a failed operation is dropped because it had no effect', () => {
  const ops = pairOperations([ev(0, 'invoke', 'write', 1, 1), ev(0, 'fail', 'write', null, 2)]);
  assert.deepEqual(ops, []);
});

test('an info operation returns at infinity with no result', () => {
  const [op] = pairOperations([ev(0, 'invoke', 'write', 1, 1), ev(0, 'info', 'write', null, 2)]);
  assert.equal(op?.ret, Infinity);
  assert.equal(op?.status, 'info');
});

test('an operation still in flight when the history ends counts as info', () => {
  const [op] = pairOperations([ev(0, 'invoke', 'write', 1, 1)]);
  assert.equal(op?.status, 'info');
  assert.equal(op?.ret, Infinity);
});

test('a process with two operations in flight makes the history malformed', () => {
  assert.throws(
    () => pairOperations([ev(0, 'invoke', 'write', 1, 1), ev(0, 'invoke', 'read', null, 2)]),
    (err: unknown) =>
      err instanceof MalformedHistoryError && /process 0 invokes read while/.test(err.message),
  );
});

test('a completion with nothing in flight makes the history malformed', () => {
  assert.throws(() => pairOperations([ev(3, 'ok', 'read', 1, 1)]), /nothing in flight/);
});

test('a completion for a different key than its invoke makes the history malformed', () => {
  assert.throws(
    () => pairOperations([ev(0, 'invoke', 'read', null, 1), ev(0, 'ok', 'read', 1, 2, 'other')]),
    /but invoked read on "k"/,
  );
});

test('a completion earlier than its invoke makes the history malformed', () => {
  assert.throws(
    () => pairOperations([ev(0, 'invoke', 'read', null, 5), ev(0, 'ok', 'read', 1, 4)]),
    /precedes its invoke/,
  );
});

test('a cas invoke without [expected, new] makes the history malformed', () => {
  assert.throws(() => pairOperations([ev(0, 'invoke', 'cas', 1, 1)]), /\[expected, new\]/);
});
