import test from 'node:test';
import assert from 'node:assert/strict';
import { enc, newStore, okResult, t0 } from './helpers.js';

test('a value that is a view into a larger buffer is copied before it is kept', () => {
  const store = newStore();
  const receiveBuffer = new Uint8Array(64 * 1024).fill(7);
  const view = receiveBuffer.subarray(100, 110);
  store.execute({ op: 'set', key: 'k', value: view }, t0);
  receiveBuffer.fill(0);
  const entry = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  assert.equal(entry?.value.buffer.byteLength, 10);
  assert.deepEqual(
    [...(entry?.value ?? [])],
    Array.from({ length: 10 }, () => 7),
  );
});

test('a pooled Node Buffer is copied out of its pool', () => {
  const store = newStore();
  const pooled = Buffer.from('hello');
  assert.notEqual(pooled.buffer.byteLength, pooled.byteLength);
  store.execute({ op: 'set', key: 'k', value: pooled }, t0);
  const entry = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  assert.equal(entry?.value.buffer.byteLength, 5);
});

test('a value that owns its whole buffer is kept without a copy', () => {
  const store = newStore();
  const value = new Uint8Array([1, 2, 3]);
  store.execute({ op: 'set', key: 'k', value }, t0);
  assert.equal(okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry?.value, value);
});

test('the put mutation carries the kept copy, not the caller view', () => {
  const store = newStore();
  const view = new Uint8Array(100).subarray(0, 4);
  const { mutations } = store.execute({ op: 'set', key: 'k', value: view }, t0);
  const put = mutations[0];
  assert.ok(put?.kind === 'put');
  assert.equal(put.value, okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry?.value);
  assert.notEqual(put.value, view);
});

test('a backup copies a view it applies', () => {
  const store = newStore();
  const frame = new Uint8Array(1_000);
  store.apply([{ kind: 'put', seq: 1, key: 'k', value: frame.subarray(10, 20), expiresAt: 0 }]);
  assert.equal([...store.entries()][0]?.[1].value.buffer.byteLength, 10);
});

test('a patched value owns a buffer of exactly its size', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc({ a: 1 }) }, t0);
  store.execute({ op: 'patch', key: 'k', ops: [{ op: 'set', path: 'b', value: 'two' }] }, t0);
  const value = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry?.value;
  assert.equal(value?.buffer.byteLength, value?.byteLength);
});

test('an entry a get answered does not change when the key is written again', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1), ttlMs: 100 }, t0);
  const before = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  store.execute({ op: 'touch', key: 'k', ttlMs: 5_000 }, t0);
  store.execute({ op: 'set', key: 'k', value: enc(2) }, t0);
  assert.equal(before?.expiresAt, t0 + 100);
  assert.equal(before?.version, 1);
});
