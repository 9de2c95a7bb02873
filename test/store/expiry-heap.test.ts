import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExpiryHeap } from '../../src/store/expiry-heap.js';
import { enc, newStore, t0 } from './helpers.js';

test('the heap pops nodes in order of time, then key', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.constantFrom('a', 'b', 'c', 'd'))),
      (nodes) => {
        const heap = new ExpiryHeap();
        for (const [time, key] of nodes) heap.push(time, key);
        const popped: [number, string][] = [];
        while (heap.size > 0) {
          popped.push([heap.peekExpiresAt(), heap.peekKey() as string]);
          heap.pop();
        }
        const sorted = [...nodes].sort(
          (x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0),
        );
        assert.deepEqual(popped, sorted);
      },
    ),
  );
});

test('retain keeps one live node per key and the heap order', () => {
  const heap = new ExpiryHeap();
  for (const [time, key] of [
    [5, 'a'],
    [3, 'b'],
    [5, 'a'],
    [9, 'c'],
    [1, 'd'],
  ] as const) {
    heap.push(time, key);
  }
  heap.retain((time, key) => key !== 'd' && !(key === 'c' && time === 9));
  const popped: string[] = [];
  while (heap.size > 0) {
    popped.push(`${heap.peekKey()}@${heap.peekExpiresAt()}`);
    heap.pop();
  }
  assert.deepEqual(popped, ['b@3', 'a@5']);
});

type Step =
  | { kind: 'set'; key: string; ttlMs: number | null }
  | { kind: 'touch'; key: string; ttlMs: number }
  | { kind: 'delete'; key: string }
  | { kind: 'advance'; ms: number }
  | { kind: 'reclaim'; max: number };

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    key: keyArb,
    ttlMs: fc.option(fc.integer({ min: 1, max: 500 }), { nil: null }),
  }),
  fc.record({
    kind: fc.constant('touch' as const),
    key: keyArb,
    ttlMs: fc.integer({ min: 1, max: 500 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), key: keyArb }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }),
  fc.record({ kind: fc.constant('reclaim' as const), max: fc.integer({ min: 0, max: 4 }) }),
);

test('reclaimExpired never takes an entry before its expiry and eventually takes every expired one', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { maxLength: 200 }), (steps) => {
      const store = newStore();
      let now = t0;
      for (const step of steps) {
        if (step.kind === 'set') {
          const ttl = step.ttlMs === null ? {} : { ttlMs: step.ttlMs };
          store.execute({ op: 'set', key: step.key, value: enc(1), ...ttl }, now);
        } else if (step.kind === 'touch') {
          store.execute({ op: 'touch', key: step.key, ttlMs: step.ttlMs }, now);
        } else if (step.kind === 'delete') {
          store.execute({ op: 'delete', key: step.key }, now);
        } else if (step.kind === 'advance') {
          now += step.ms;
        } else {
          const before = new Map([...store.entries()].map(([k, e]) => [k, e.expiresAt]));
          const mutations = store.reclaimExpired(now, step.max);
          assert.ok(mutations.length <= step.max);
          for (const m of mutations) {
            assert.equal(m.kind, 'delete');
            const expiresAt = m.kind === 'delete' ? before.get(m.key) : undefined;
            assert.ok(expiresAt !== undefined && expiresAt !== 0 && expiresAt <= now);
          }
          if (mutations.length < step.max) {
            for (const [, e] of store.entries()) {
              assert.ok(e.expiresAt === 0 || e.expiresAt > now, 'an expired entry was left');
            }
          }
        }
        assert.ok(store.expiryHeapSize <= 2 * store.size + 1_025);
      }
      store.reclaimExpired(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      for (const [, e] of store.entries()) assert.equal(e.expiresAt, 0);
    }),
  );
});

test('the expiry heap stays bounded under repeated touches', () => {
  const store = newStore();
  const keys = ['a', 'b', 'c', 'd', 'e'];
  for (const key of keys) store.execute({ op: 'set', key, value: enc(1), ttlMs: 1_000 }, t0);
  let largest = 0;
  for (let i = 0; i < 100_000; i++) {
    store.execute({ op: 'touch', key: keys[i % keys.length] as string, ttlMs: 1_000 + i }, t0);
    largest = Math.max(largest, store.expiryHeapSize);
  }
  assert.ok(largest <= 2 * keys.length + 1_025, `the heap grew to ${largest} nodes`);
  const mutations = store.reclaimExpired(t0 + 1_000_000, 100);
  assert.equal(mutations.length, keys.length);
});

test('touches with random keys and times keep the heap within its bound', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(keyArb, fc.integer({ min: 1, max: 10_000 })), {
        minLength: 2_000,
        maxLength: 4_000,
      }),
      (touches) => {
        const store = newStore();
        for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) {
          store.execute({ op: 'set', key, value: enc(1), ttlMs: 1 }, t0);
        }
        for (const [key, ttlMs] of touches) {
          store.execute({ op: 'touch', key, ttlMs }, t0);
          assert.ok(store.expiryHeapSize <= 2 * 6 + 1_025);
        }
      },
    ),
    { numRuns: 20 },
  );
});
