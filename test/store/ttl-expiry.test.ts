import test from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../src/core/errors.js';
import type { Mutation } from '../../src/store/index.js';
import { enc, failure, newStore, okResult, read, t0 } from './helpers.js';

function storeWithExpiring(ttlMs = 1_000) {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc({ n: 1 }), ttlMs }, t0);
  return store;
}

test('an entry is returned until the moment it expires', () => {
  const store = storeWithExpiring(1_000);
  assert.deepEqual(read(store, 'k', t0 + 999), { n: 1 });
});

test('an expired entry is never returned by get, from the very millisecond of its expiry', () => {
  const store = storeWithExpiring(1_000);
  assert.equal(read(store, 'k', t0 + 1_000), null);
  assert.equal(read(store, 'k', t0 + 50_000), null);
});

test('an expired entry answers ttl with exists false', () => {
  const store = storeWithExpiring();
  assert.deepEqual(okResult(store.execute({ op: 'ttl', key: 'k' }, t0 + 1_000), 'ttl'), {
    op: 'ttl',
    exists: false,
    ttlMs: null,
  });
});

test('cas on an expired entry is refused with current version 0', () => {
  const store = storeWithExpiring();
  const refused = failure(
    store.execute({ op: 'cas', key: 'k', expected: enc({ n: 1 }), value: enc(2) }, t0 + 1_000),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, 0);
});

test('patch with create false on an expired entry answers NOT_FOUND', () => {
  const store = storeWithExpiring();
  failure(
    store.execute(
      { op: 'patch', key: 'k', ops: [{ op: 'incr', path: 'n', by: 1 }], create: false },
      t0 + 1_000,
    ),
    ErrorCode.NOT_FOUND,
  );
});

test('patch on an expired entry starts from an empty document', () => {
  const store = storeWithExpiring();
  store.execute({ op: 'patch', key: 'k', ops: [{ op: 'incr', path: 'm', by: 1 }] }, t0 + 1_000);
  assert.deepEqual(read(store, 'k', t0 + 1_000), { m: 1 });
});

test('patch of an expired entry does not inherit its expiry', () => {
  const store = storeWithExpiring();
  store.execute({ op: 'patch', key: 'k', ops: [] }, t0 + 1_000);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0 + 1_000), 'ttl').ttlMs, null);
});

test('touch does not revive an expired entry', () => {
  const store = storeWithExpiring();
  const execution = store.execute({ op: 'touch', key: 'k', ttlMs: 10_000 }, t0 + 1_000);
  assert.equal(okResult(execution, 'touch').found, false);
  assert.equal(execution.mutations.length, 0);
  assert.equal(read(store, 'k', t0 + 1_001), null);
});

test('ifAbsent treats an expired entry as absent', () => {
  const store = storeWithExpiring();
  okResult(
    store.execute({ op: 'set', key: 'k', value: enc(2), ifAbsent: true }, t0 + 1_000),
    'set',
  );
  assert.equal(read(store, 'k', t0 + 1_000), 2);
});

test('ifVersion treats an expired entry as absent', () => {
  const store = storeWithExpiring();
  const refused = failure(
    store.execute({ op: 'set', key: 'k', value: enc(2), ifVersion: 1 }, t0 + 1_000),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refused.meta?.currentVersion, 0);
  okResult(store.execute({ op: 'set', key: 'k', value: enc(2), ifVersion: 0 }, t0 + 1_000), 'set');
});

test('keepTtl on an expired entry sets no expiry', () => {
  const store = storeWithExpiring();
  store.execute({ op: 'set', key: 'k', value: enc(2), keepTtl: true }, t0 + 1_000);
  assert.equal(read(store, 'k', t0 + 1_000_000), 2);
});

test('delete of an expired entry answers deleted false and removes it for the backups too', () => {
  const store = storeWithExpiring();
  const execution = store.execute({ op: 'delete', key: 'k' }, t0 + 1_000);
  assert.equal(okResult(execution, 'delete').deleted, false);
  assert.deepEqual(execution.mutations, [{ kind: 'delete', seq: 2, key: 'k' }]);
  assert.equal(store.size, 0);
});

test('an expired entry stays held until it is reclaimed', () => {
  const store = storeWithExpiring();
  read(store, 'k', t0 + 5_000);
  assert.equal(store.size, 1);
});

function reclaimedKeys(mutations: Mutation[]): string[] {
  return mutations.map((m) => {
    assert.equal(m.kind, 'delete');
    return m.kind === 'delete' ? m.key : '';
  });
}

test('reclaimExpired returns deletes in expiry order, with consecutive seqs', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'late', value: enc(1), ttlMs: 300 }, t0);
  store.execute({ op: 'set', key: 'early', value: enc(1), ttlMs: 100 }, t0);
  store.execute({ op: 'set', key: 'middle', value: enc(1), ttlMs: 200 }, t0);
  const mutations = store.reclaimExpired(t0 + 1_000, 10);
  assert.deepEqual(reclaimedKeys(mutations), ['early', 'middle', 'late']);
  assert.deepEqual(
    mutations.map((m) => m.seq),
    [4, 5, 6],
  );
  assert.equal(store.size, 0);
});

test('reclaimExpired orders equal expiry times by key', () => {
  const store = newStore();
  for (const key of ['c', 'a', 'b']) {
    store.execute({ op: 'set', key, value: enc(1), ttlMs: 100 }, t0);
  }
  assert.deepEqual(reclaimedKeys(store.reclaimExpired(t0 + 100, 10)), ['a', 'b', 'c']);
});

test('reclaimExpired removes at most max entries per call', () => {
  const store = newStore();
  for (let i = 0; i < 10; i++) {
    store.execute({ op: 'set', key: `k${i}`, value: enc(i), ttlMs: 10 + i }, t0);
  }
  assert.equal(store.reclaimExpired(t0 + 100, 3).length, 3);
  assert.equal(store.size, 7);
  assert.equal(store.reclaimExpired(t0 + 100, 100).length, 7);
  assert.equal(store.reclaimExpired(t0 + 100, 100).length, 0);
});

test('reclaimExpired leaves entries that have not expired or never expire', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'due', value: enc(1), ttlMs: 100 }, t0);
  store.execute({ op: 'set', key: 'later', value: enc(1), ttlMs: 101 }, t0);
  store.execute({ op: 'set', key: 'forever', value: enc(1) }, t0);
  assert.deepEqual(reclaimedKeys(store.reclaimExpired(t0 + 100, 10)), ['due']);
  assert.equal(read(store, 'later', t0 + 100), 1);
  assert.equal(read(store, 'forever', t0 + 100), 1);
});

test('an entry touched to a later time is not reclaimed at its old time', () => {
  const store = storeWithExpiring(100);
  store.execute({ op: 'touch', key: 'k', ttlMs: 1_000 }, t0 + 50);
  assert.equal(store.reclaimExpired(t0 + 500, 10).length, 0);
  assert.deepEqual(reclaimedKeys(store.reclaimExpired(t0 + 1_050, 10)), ['k']);
});

test('an entry set again without a ttl is never reclaimed', () => {
  const store = storeWithExpiring(100);
  store.execute({ op: 'set', key: 'k', value: enc(2) }, t0);
  assert.equal(store.reclaimExpired(t0 + 1_000_000, 10).length, 0);
  assert.equal(store.size, 1);
});

test('a deleted and re-created entry is reclaimed at its new time only', () => {
  const store = storeWithExpiring(100);
  store.execute({ op: 'delete', key: 'k' }, t0);
  store.execute({ op: 'set', key: 'k', value: enc(2), ttlMs: 500 }, t0);
  assert.equal(store.reclaimExpired(t0 + 100, 10).length, 0);
  assert.equal(store.reclaimExpired(t0 + 500, 10).length, 1);
});

test('reclaiming an entry releases its memory', () => {
  const store = storeWithExpiring(100);
  store.reclaimExpired(t0 + 100, 10);
  assert.equal(store.bytes, 0);
});
