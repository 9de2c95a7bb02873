import test from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../src/core/errors.js';
import { keyBytesMaxDefault, valueBytesMaxDefault } from '../../src/core/limits.js';
import { MemoryBudget, PartitionStore } from '../../src/store/index.js';
import { enc, failure, newStore, okResult, read, t0 } from './helpers.js';

test('a key longer than keyBytesMax in UTF-8 bytes is refused with TOO_LARGE', () => {
  const store = newStore();
  // 400 euro signs: 400 UTF-16 units, but 1,200 UTF-8 bytes.
  const key = '€'.repeat(400);
  const refused = failure(
    store.execute({ op: 'set', key, value: enc(1) }, t0),
    ErrorCode.TOO_LARGE,
  );
  assert.equal(refused.meta?.limitBytes, keyBytesMaxDefault);
  assert.equal(store.size, 0);
});

test('a key of exactly keyBytesMax bytes is accepted', () => {
  const store = newStore({ keyBytesMax: 12 });
  okResult(store.execute({ op: 'set', key: '€€€€', value: enc(1) }, t0), 'set');
});

test('every operation refuses an oversized key', () => {
  const store = newStore({ keyBytesMax: 4 });
  const key = 'abcde';
  for (const command of [
    { op: 'get', key },
    { op: 'ttl', key },
    { op: 'set', key, value: enc(1) },
    { op: 'delete', key },
    { op: 'touch', key, ttlMs: 5 },
    { op: 'cas', key, expected: enc(1), value: enc(2) },
    { op: 'patch', key, ops: [] },
  ] as const) {
    failure(store.execute(command, t0), ErrorCode.TOO_LARGE);
  }
});

test('a multi-byte key is measured in bytes even by reads', () => {
  const store = newStore({ keyBytesMax: 6 });
  failure(store.execute({ op: 'get', key: '€€€' }, t0), ErrorCode.TOO_LARGE);
  okResult(store.execute({ op: 'get', key: '€€' }, t0), 'get');
});

test('an empty key is refused with BAD_REQUEST', () => {
  const store = newStore();
  failure(store.execute({ op: 'set', key: '', value: enc(1) }, t0), ErrorCode.BAD_REQUEST);
  failure(store.execute({ op: 'get', key: '' }, t0), ErrorCode.BAD_REQUEST);
});

test('a value larger than valueBytesMax is refused with TOO_LARGE', () => {
  const store = newStore({ valueBytesMax: 16 });
  const refused = failure(
    store.execute({ op: 'set', key: 'k', value: new Uint8Array(17) }, t0),
    ErrorCode.TOO_LARGE,
  );
  assert.equal(refused.meta?.limitBytes, 16);
  okResult(store.execute({ op: 'set', key: 'k', value: new Uint8Array(16) }, t0), 'set');
});

test('cas refuses a new value larger than valueBytesMax', () => {
  const store = newStore({ valueBytesMax: 16 });
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  failure(
    store.execute({ op: 'cas', key: 'k', expected: enc(1), value: new Uint8Array(17) }, t0),
    ErrorCode.TOO_LARGE,
  );
  assert.equal(read(store, 'k'), 1);
});

test('a patch whose result is larger than valueBytesMax is refused and changes nothing', () => {
  const store = newStore({ valueBytesMax: 32 });
  store.execute({ op: 'set', key: 'k', value: enc({ a: 1 }) }, t0);
  const execution = store.execute(
    { op: 'patch', key: 'k', ops: [{ op: 'set', path: 'long', value: 'x'.repeat(40) }] },
    t0,
  );
  assert.equal(failure(execution, ErrorCode.TOO_LARGE).meta?.limitBytes, 32);
  assert.equal(execution.mutations.length, 0);
  assert.deepEqual(read(store, 'k'), { a: 1 });
});

for (const ttlMs of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
  test(`a ttlMs of ${ttlMs} is refused with BAD_REQUEST by set, touch, cas and patch`, () => {
    const store = newStore();
    store.execute({ op: 'set', key: 'k', value: enc({}) }, t0);
    failure(
      store.execute({ op: 'set', key: 'k', value: enc(1), ttlMs }, t0),
      ErrorCode.BAD_REQUEST,
    );
    failure(store.execute({ op: 'touch', key: 'k', ttlMs }, t0), ErrorCode.BAD_REQUEST);
    failure(
      store.execute({ op: 'cas', key: 'k', expected: enc({}), value: enc(1), ttlMs }, t0),
      ErrorCode.BAD_REQUEST,
    );
    failure(store.execute({ op: 'patch', key: 'k', ops: [], ttlMs }, t0), ErrorCode.BAD_REQUEST);
    assert.equal(store.lastSeq, 1);
  });
}

test('options outside their range are refused by name when the store is built', () => {
  const budget = new MemoryBudget();
  assert.throws(() => new PartitionStore({ partition: -1, budget }), /partition/);
  assert.throws(() => new PartitionStore({ partition: 0, budget, keyBytesMax: 0 }), /keyBytesMax/);
  assert.throws(
    () => new PartitionStore({ partition: 0, budget, valueBytesMax: 65 * 1024 * 1024 }),
    /valueBytesMax/,
  );
  assert.throws(() => new MemoryBudget(-1), /limitBytes/);
});

test('the defaults come from core/limits', () => {
  const store = newStore();
  assert.equal(store.keyBytesMax, keyBytesMaxDefault);
  assert.equal(store.valueBytesMax, valueBytesMaxDefault);
});
