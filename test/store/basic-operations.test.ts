import test from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../src/core/errors.js';
import type { Command } from '../../src/store/index.js';
import { dec, enc, failure, newStore, okResult, read, t0 } from './helpers.js';

test('get of a missing key answers null', () => {
  const store = newStore();
  assert.equal(okResult(store.execute({ op: 'get', key: 'nope' }, t0), 'get').entry, null);
});

test('a set value is returned by get byte for byte', () => {
  const store = newStore();
  const value = enc({ user: 'ada', cart: [1, 2] });
  store.execute({ op: 'set', key: 'k', value }, t0);
  const entry = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  assert.ok(entry);
  assert.deepEqual([...entry.value], [...value]);
  assert.deepEqual(dec(entry.value), { user: 'ada', cart: [1, 2] });
});

test('set answers the version that get then reports', () => {
  const store = newStore();
  const { version } = okResult(store.execute({ op: 'set', key: 'k', value: enc(1) }, t0), 'set');
  const entry = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  assert.equal(entry?.version, version);
});

test('set replaces the value of an existing key', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc('old') }, t0);
  store.execute({ op: 'set', key: 'k', value: enc('new') }, t0);
  assert.equal(read(store, 'k'), 'new');
  assert.equal(store.size, 1);
});

test('set emits one put mutation carrying the value and expiry', () => {
  const store = newStore();
  const value = enc('v');
  const { mutations } = store.execute({ op: 'set', key: 'k', value, ttlMs: 500 }, t0);
  assert.equal(mutations.length, 1);
  const put = mutations[0];
  assert.ok(put?.kind === 'put');
  assert.equal(put.key, 'k');
  assert.equal(put.seq, 1);
  assert.equal(put.expiresAt, t0 + 500);
  assert.deepEqual([...put.value], [...value]);
});

test('delete removes a key and answers deleted true', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  const execution = store.execute({ op: 'delete', key: 'k' }, t0);
  assert.equal(okResult(execution, 'delete').deleted, true);
  assert.deepEqual(execution.mutations, [{ kind: 'delete', seq: 2, key: 'k' }]);
  assert.equal(read(store, 'k'), null);
  assert.equal(store.size, 0);
});

test('delete of a missing key answers deleted false and makes no mutation', () => {
  const store = newStore();
  const execution = store.execute({ op: 'delete', key: 'k' }, t0);
  assert.equal(okResult(execution, 'delete').deleted, false);
  assert.equal(execution.mutations.length, 0);
  assert.equal(store.lastSeq, 0);
});

test('ttl of a key without expiry answers exists true and ttlMs null', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  assert.deepEqual(okResult(store.execute({ op: 'ttl', key: 'k' }, t0), 'ttl'), {
    op: 'ttl',
    exists: true,
    ttlMs: null,
  });
});

test('ttl answers the milliseconds left', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1), ttlMs: 1_000 }, t0);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0 + 250), 'ttl').ttlMs, 750);
});

test('ttl of a missing key answers exists false', () => {
  const store = newStore();
  assert.deepEqual(okResult(store.execute({ op: 'ttl', key: 'k' }, t0), 'ttl'), {
    op: 'ttl',
    exists: false,
    ttlMs: null,
  });
});

test('touch sets the expiry to now plus ttlMs and emits an expiry mutation', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  const execution = store.execute({ op: 'touch', key: 'k', ttlMs: 60_000 }, t0 + 5);
  assert.deepEqual(okResult(execution, 'touch'), {
    op: 'touch',
    found: true,
    expiresAt: t0 + 5 + 60_000,
  });
  assert.deepEqual(execution.mutations, [
    { kind: 'expiry', seq: 2, key: 'k', expiresAt: t0 + 60_005 },
  ]);
});

test('touch of a missing key answers found false and makes no mutation', () => {
  const store = newStore();
  const execution = store.execute({ op: 'touch', key: 'k', ttlMs: 1_000 }, t0);
  assert.deepEqual(okResult(execution, 'touch'), { op: 'touch', found: false, expiresAt: 0 });
  assert.equal(execution.mutations.length, 0);
});

test('set without ttlMs clears an existing expiry', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1), ttlMs: 1_000 }, t0);
  store.execute({ op: 'set', key: 'k', value: enc(2) }, t0);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0), 'ttl').ttlMs, null);
});

test('set with keepTtl keeps the existing expiry', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1), ttlMs: 1_000 }, t0);
  store.execute({ op: 'set', key: 'k', value: enc(2), keepTtl: true }, t0 + 100);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0 + 100), 'ttl').ttlMs, 900);
  assert.equal(read(store, 'k', t0 + 100), 2);
});

test('set with keepTtl on a new key sets no expiry', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1), keepTtl: true }, t0);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0), 'ttl').ttlMs, null);
});

test('set with both ttlMs and keepTtl is refused', () => {
  const store = newStore();
  const execution = store.execute(
    { op: 'set', key: 'k', value: enc(1), ttlMs: 10, keepTtl: true },
    t0,
  );
  failure(execution, ErrorCode.BAD_REQUEST);
  assert.equal(store.size, 0);
});

test('reads make no mutations', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  assert.equal(store.execute({ op: 'get', key: 'k' }, t0).mutations.length, 0);
  assert.equal(store.execute({ op: 'ttl', key: 'k' }, t0).mutations.length, 0);
  assert.equal(store.lastSeq, 1);
});

test('an unknown operation is refused with BAD_REQUEST', () => {
  const store = newStore();
  const command = { op: 'flushall', key: 'k' } as unknown as Command;
  failure(store.execute(command, t0), ErrorCode.BAD_REQUEST);
});

test('a value that is not a Uint8Array is refused with BAD_REQUEST', () => {
  const store = newStore();
  const command = { op: 'set', key: 'k', value: 'text' } as unknown as Command;
  failure(store.execute(command, t0), ErrorCode.BAD_REQUEST);
  assert.equal(store.size, 0);
});

test('size, bytes and partition describe the store', () => {
  const store = newStore({ partition: 7 });
  store.execute({ op: 'set', key: 'a', value: enc(1) }, t0);
  store.execute({ op: 'set', key: 'b', value: enc(2) }, t0);
  assert.equal(store.partition, 7);
  assert.equal(store.size, 2);
  assert.ok(store.bytes > 0);
});

test('entries lists every entry with its value, version and expiry', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'a', value: enc(1), ttlMs: 10 }, t0);
  store.execute({ op: 'set', key: 'b', value: enc(2) }, t0);
  const entries = new Map(store.entries());
  assert.equal(entries.get('a')?.expiresAt, t0 + 10);
  assert.equal(entries.get('b')?.version, 2);
  assert.equal(entries.size, 2);
});
