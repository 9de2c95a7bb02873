import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCode } from '../../src/core/errors.js';
import { MemoryBudget, entryOverheadBytes } from '../../src/store/index.js';
import { enc, failure, newStore, okResult, read, t0 } from './helpers.js';

const cost = (keyBytes: number, valueBytes: number): number =>
  keyBytes + valueBytes + entryOverheadBytes;

test('an entry costs its UTF-8 key bytes, its value bytes and the fixed overhead', () => {
  const budget = new MemoryBudget();
  const store = newStore({ budget });
  store.execute({ op: 'set', key: 'k€', value: new Uint8Array(10) }, t0);
  assert.equal(store.bytes, cost(4, 10));
  assert.equal(budget.usedBytes, cost(4, 10));
});

test('a write that would pass the limit is refused with OUT_OF_MEMORY and changes nothing', () => {
  const budget = new MemoryBudget(cost(1, 100));
  const store = newStore({ budget });
  okResult(store.execute({ op: 'set', key: 'a', value: new Uint8Array(100) }, t0), 'set');
  const execution = store.execute({ op: 'set', key: 'b', value: new Uint8Array(1) }, t0);
  failure(execution, ErrorCode.OUT_OF_MEMORY);
  assert.equal(execution.mutations.length, 0);
  assert.equal(store.size, 1);
  assert.equal(store.lastSeq, 1);
  assert.equal(budget.usedBytes, cost(1, 100));
});

test('growing a value past the limit is refused and keeps the old value', () => {
  const budget = new MemoryBudget(cost(1, 10));
  const store = newStore({ budget });
  store.execute({ op: 'set', key: 'a', value: new Uint8Array(10) }, t0);
  failure(
    store.execute({ op: 'set', key: 'a', value: new Uint8Array(11) }, t0),
    ErrorCode.OUT_OF_MEMORY,
  );
  failure(store.execute({ op: 'patch', key: 'b', ops: [] }, t0), ErrorCode.OUT_OF_MEMORY);
  assert.equal(store.bytes, cost(1, 10));
});

test('after a delete makes room the refused write succeeds', () => {
  const budget = new MemoryBudget(cost(1, 100));
  const store = newStore({ budget });
  store.execute({ op: 'set', key: 'a', value: new Uint8Array(100) }, t0);
  failure(store.execute({ op: 'set', key: 'b', value: enc(1) }, t0), ErrorCode.OUT_OF_MEMORY);
  store.execute({ op: 'delete', key: 'a' }, t0);
  okResult(store.execute({ op: 'set', key: 'b', value: enc(1) }, t0), 'set');
});

test('a write that shrinks a value is allowed even over the limit', () => {
  const budget = new MemoryBudget(cost(1, 10));
  const store = newStore({ budget });
  // A backup is charged without asking, so it can be over the limit.
  store.apply([{ kind: 'put', seq: 1, key: 'a', value: new Uint8Array(50), expiresAt: 0 }]);
  assert.ok(budget.usedBytes > budget.limitBytes);
  okResult(store.execute({ op: 'set', key: 'a', value: new Uint8Array(20) }, t0), 'set');
  assert.equal(budget.usedBytes, cost(1, 20));
});

test('a delete is allowed over the limit', () => {
  const budget = new MemoryBudget(0);
  const store = newStore({ budget });
  store.apply([{ kind: 'put', seq: 1, key: 'a', value: enc(1), expiresAt: 0 }]);
  assert.equal(okResult(store.execute({ op: 'delete', key: 'a' }, t0), 'delete').deleted, true);
  assert.equal(budget.usedBytes, 0);
});

test('a backup applies puts past the limit, so it never diverges from its primary', () => {
  const budget = new MemoryBudget(10);
  const store = newStore({ budget });
  store.apply([{ kind: 'put', seq: 1, key: 'a', value: new Uint8Array(100), expiresAt: 0 }]);
  assert.equal(store.size, 1);
  assert.equal(budget.usedBytes, cost(1, 100));
});

test('the partitions of a node share one budget', () => {
  const budget = new MemoryBudget(cost(1, 10) * 2);
  const one = newStore({ budget, partition: 1 });
  const two = newStore({ budget, partition: 2 });
  okResult(one.execute({ op: 'set', key: 'a', value: new Uint8Array(10) }, t0), 'set');
  okResult(two.execute({ op: 'set', key: 'a', value: new Uint8Array(10) }, t0), 'set');
  failure(
    one.execute({ op: 'set', key: 'b', value: new Uint8Array(1) }, t0),
    ErrorCode.OUT_OF_MEMORY,
  );
  assert.equal(budget.usedBytes, one.bytes + two.bytes);
});

test('clear drops every entry and releases its memory', () => {
  const budget = new MemoryBudget();
  const store = newStore({ budget });
  const other = newStore({ budget, partition: 1 });
  store.execute({ op: 'set', key: 'a', value: enc(1), ttlMs: 10 }, t0);
  store.execute({ op: 'set', key: 'b', value: enc(2) }, t0);
  other.execute({ op: 'set', key: 'c', value: enc(3) }, t0);
  store.clear();
  assert.equal(store.size, 0);
  assert.equal(store.bytes, 0);
  assert.equal(budget.usedBytes, other.bytes);
  assert.equal(read(store, 'a'), null);
  assert.equal(store.reclaimExpired(t0 + 100, 10).length, 0);
});

test('clear keeps lastSeq, so versions never repeat', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'a', value: enc(1) }, t0);
  store.clear();
  assert.equal(
    okResult(store.execute({ op: 'set', key: 'a', value: enc(1) }, t0), 'set').version,
    2,
  );
});

test('the accounting matches the entries held and returns to zero when all are deleted', () => {
  const keyArb = fc.constantFrom('a', 'bb', 'c€', '键');
  const stepArb = fc.oneof(
    fc.record({
      op: fc.constant('set' as const),
      key: keyArb,
      size: fc.nat(300),
      ttl: fc.boolean(),
    }),
    fc.record({ op: fc.constant('delete' as const), key: keyArb }),
    fc.record({ op: fc.constant('touch' as const), key: keyArb }),
    fc.record({
      op: fc.constant('patch' as const),
      key: keyArb,
      text: fc.string({ maxLength: 40 }),
    }),
    fc.record({ op: fc.constant('reclaim' as const), at: fc.nat(2_000) }),
  );
  fc.assert(
    fc.property(fc.array(stepArb, { maxLength: 80 }), fc.nat(4_000), (steps, limit) => {
      const budget = new MemoryBudget(limit);
      const store = newStore({ budget });
      for (const s of steps) {
        if (s.op === 'set') {
          const ttl = s.ttl ? { ttlMs: 1_000 } : {};
          store.execute({ op: 'set', key: s.key, value: new Uint8Array(s.size), ...ttl }, t0);
        } else if (s.op === 'delete') store.execute({ op: 'delete', key: s.key }, t0);
        else if (s.op === 'touch') store.execute({ op: 'touch', key: s.key, ttlMs: 500 }, t0);
        else if (s.op === 'patch') {
          store.execute({ op: 'set', key: s.key, value: enc({}), ifAbsent: true }, t0);
          store.execute(
            { op: 'patch', key: s.key, ops: [{ op: 'set', path: 't', value: s.text }] },
            t0,
          );
        } else store.reclaimExpired(t0 + s.at, 3);
        let expected = 0;
        for (const [key, entry] of store.entries()) {
          expected += cost(Buffer.byteLength(key), entry.value.byteLength);
        }
        assert.equal(store.bytes, expected);
        assert.equal(budget.usedBytes, expected);
        assert.ok(budget.usedBytes <= limit);
      }
      for (const [key] of [...store.entries()]) store.execute({ op: 'delete', key }, t0);
      assert.equal(store.bytes, 0);
      assert.equal(budget.usedBytes, 0);
    }),
  );
});
