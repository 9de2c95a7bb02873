import test from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../src/core/errors.js';
import { enc, failure, newStore, okResult, read, t0 } from './helpers.js';

test('set with a matching ifVersion writes', () => {
  const store = newStore();
  const { version } = okResult(store.execute({ op: 'set', key: 'k', value: enc(1) }, t0), 'set');
  okResult(store.execute({ op: 'set', key: 'k', value: enc(2), ifVersion: version }, t0), 'set');
  assert.equal(read(store, 'k'), 2);
});

test('set with another ifVersion is refused with the current version', () => {
  const store = newStore();
  const { version } = okResult(store.execute({ op: 'set', key: 'k', value: enc(1) }, t0), 'set');
  const refused = failure(
    store.execute({ op: 'set', key: 'k', value: enc(2), ifVersion: version + 5 }, t0),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, version);
  assert.equal(read(store, 'k'), 1);
});

test('set with ifVersion 0 writes only when the key is absent', () => {
  const store = newStore();
  okResult(store.execute({ op: 'set', key: 'k', value: enc(1), ifVersion: 0 }, t0), 'set');
  const refused = failure(
    store.execute({ op: 'set', key: 'k', value: enc(2), ifVersion: 0 }, t0),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, 1);
});

test('set with ifVersion on an absent key is refused with current version 0', () => {
  const store = newStore();
  const refused = failure(
    store.execute({ op: 'set', key: 'k', value: enc(1), ifVersion: 3 }, t0),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, 0);
});

test('set with ifAbsent writes a new key', () => {
  const store = newStore();
  okResult(store.execute({ op: 'set', key: 'k', value: enc(1), ifAbsent: true }, t0), 'set');
  assert.equal(read(store, 'k'), 1);
});

test('set with ifAbsent on an existing key is refused with its version', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  const refused = failure(
    store.execute({ op: 'set', key: 'k', value: enc(2), ifAbsent: true }, t0),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, 1);
  assert.equal(read(store, 'k'), 1);
});

test('a negative or fractional ifVersion is refused with BAD_REQUEST', () => {
  const store = newStore();
  failure(
    store.execute({ op: 'set', key: 'k', value: enc(1), ifVersion: -1 }, t0),
    ErrorCode.BAD_REQUEST,
  );
  failure(store.execute({ op: 'delete', key: 'k', ifVersion: 1.5 }, t0), ErrorCode.BAD_REQUEST);
});

test('a refused conditional write makes no mutation and keeps lastSeq', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  const execution = store.execute({ op: 'set', key: 'k', value: enc(2), ifAbsent: true }, t0);
  assert.equal(execution.mutations.length, 0);
  assert.equal(store.lastSeq, 1);
});

test('delete with a matching ifVersion deletes', () => {
  const store = newStore();
  const { version } = okResult(store.execute({ op: 'set', key: 'k', value: enc(1) }, t0), 'set');
  const result = okResult(
    store.execute({ op: 'delete', key: 'k', ifVersion: version }, t0),
    'delete',
  );
  assert.equal(result.deleted, true);
  assert.equal(read(store, 'k'), null);
});

test('delete with another ifVersion is refused and keeps the entry', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  const refused = failure(
    store.execute({ op: 'delete', key: 'k', ifVersion: 9 }, t0),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, 1);
  assert.equal(read(store, 'k'), 1);
});

test('cas replaces the value when the expected value matches', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc({ n: 1 }) }, t0);
  const execution = store.execute(
    { op: 'cas', key: 'k', expected: enc({ n: 1 }), value: enc({ n: 2 }) },
    t0,
  );
  assert.equal(okResult(execution, 'cas').version, 2);
  assert.equal(execution.mutations[0]?.kind, 'put');
  assert.deepEqual(read(store, 'k'), { n: 2 });
});

test('cas compares documents, so object key order does not matter', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc({ a: 1, b: { c: [1, 2], d: null } }) }, t0);
  const expected = enc({ b: { d: null, c: [1, 2] }, a: 1 });
  okResult(store.execute({ op: 'cas', key: 'k', expected, value: enc('next') }, t0), 'cas');
  assert.equal(read(store, 'k'), 'next');
});

test('cas with another expected value is refused with the current version', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc([1, 2]) }, t0);
  const refused = failure(
    store.execute({ op: 'cas', key: 'k', expected: enc([2, 1]), value: enc('x') }, t0),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, 1);
  assert.deepEqual(read(store, 'k'), [1, 2]);
});

test('cas on an absent key is refused with current version 0', () => {
  const store = newStore();
  const refused = failure(
    store.execute({ op: 'cas', key: 'k', expected: enc(null), value: enc(1) }, t0),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, 0);
  assert.equal(store.size, 0);
});

test('cas with an undecodable expected value is refused with BAD_REQUEST', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  failure(
    store.execute(
      { op: 'cas', key: 'k', expected: new Uint8Array([0x92, 0x01]), value: enc(2) },
      t0,
    ),
    ErrorCode.BAD_REQUEST,
  );
  assert.equal(read(store, 'k'), 1);
});

test('cas without ttlMs keeps the expiry', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1), ttlMs: 1_000 }, t0);
  store.execute({ op: 'cas', key: 'k', expected: enc(1), value: enc(2) }, t0);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0), 'ttl').ttlMs, 1_000);
});

test('cas with ttlMs sets a new expiry', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  store.execute({ op: 'cas', key: 'k', expected: enc(1), value: enc(2), ttlMs: 300 }, t0);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0), 'ttl').ttlMs, 300);
});
