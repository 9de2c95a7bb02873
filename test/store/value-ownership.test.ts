/**
 * Whose bytes a value is (partition-store.ts, value-arena.ts): the store keeps its own copy
 * of every value, in its arena, hands out copies, and gives a value's slot back when the
 * entry is replaced or removed; a put mutation carries the command's bytes.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { PartitionStore, MemoryBudget, ValueArena } from '../../src/store/index.js';
import { enc, newStore, okResult, t0 } from './helpers.js';

function storedValue(store: PartitionStore, key: string): Uint8Array | undefined {
  for (const [k, entry] of store.entries()) if (k === key) return entry.value;
  return undefined;
}

test('a value that is a view into a larger buffer is copied before it is kept', () => {
  const store = newStore();
  const receiveBuffer = new Uint8Array(64 * 1024).fill(7);
  const view = receiveBuffer.subarray(100, 110);
  store.execute({ op: 'set', key: 'k', value: view }, t0);
  receiveBuffer.fill(0);
  assert.notEqual(storedValue(store, 'k')?.buffer, receiveBuffer.buffer);
  const entry = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  assert.deepEqual(
    [...(entry?.value ?? [])],
    Array.from({ length: 10 }, () => 7),
  );
});

test('a pooled Node Buffer is not kept: the store holds its own copy', () => {
  const store = newStore();
  const pooled = Buffer.from('hello');
  assert.notEqual(pooled.buffer.byteLength, pooled.byteLength);
  store.execute({ op: 'set', key: 'k', value: pooled }, t0);
  assert.notEqual(storedValue(store, 'k')?.buffer, pooled.buffer);
  pooled.fill(0);
  const entry = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  assert.equal(Buffer.from(entry!.value).toString(), 'hello');
});

test('a get answers with a copy: changing it changes nothing stored', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: new Uint8Array([1, 2, 3]) }, t0);
  const first = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry!;
  first.value.fill(9);
  const again = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry!;
  assert.deepEqual([...again.value], [1, 2, 3]);
});

test("the put mutation carries the command's bytes; the store keeps a copy of its own", () => {
  const store = newStore();
  const view = new Uint8Array(100).subarray(0, 4);
  const { mutations } = store.execute({ op: 'set', key: 'k', value: view }, t0);
  const put = mutations[0];
  assert.ok(put?.kind === 'put');
  assert.equal(put.value, view);
  assert.notEqual(storedValue(store, 'k')?.buffer, view.buffer);
});

test('a backup copies a view it applies', () => {
  const store = newStore();
  const frame = new Uint8Array(1_000).fill(3);
  store.apply([{ kind: 'put', seq: 1, key: 'k', value: frame.subarray(10, 20), expiresAt: 0 }]);
  frame.fill(0);
  const kept = storedValue(store, 'k');
  assert.notEqual(kept?.buffer, frame.buffer);
  assert.deepEqual(
    [...(kept ?? [])],
    Array.from({ length: 10 }, () => 3),
  );
});

test('a patch that returns its value returns a copy, not the stored bytes', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc({ a: 1 }) }, t0);
  const result = okResult(
    store.execute(
      { op: 'patch', key: 'k', ops: [{ op: 'set', path: 'b', value: 'two' }], returnValue: true },
      t0,
    ),
    'patch',
  );
  assert.ok(result.value !== undefined);
  assert.notEqual(result.value.buffer, storedValue(store, 'k')?.buffer);
  assert.deepEqual([...result.value], [...storedValue(store, 'k')!]);
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

test('bytes a get answered survive their slot being given back and reused', () => {
  const store = newStore();
  const value = (n: number): Uint8Array => new Uint8Array(1_040).fill(n);
  store.execute({ op: 'set', key: 'k', value: value(1) }, t0);
  const answered = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry!;
  // Each overwrite gives the previous slot back; the next value of the size reuses it.
  for (let n = 2; n < 10; n++) store.execute({ op: 'set', key: `k${n % 2}`, value: value(n) }, t0);
  store.execute({ op: 'set', key: 'k', value: value(42) }, t0);
  assert.ok(answered.value.every((b) => b === 1));
});

test("a node's partitions share one arena; a cleared store gives its slots back", () => {
  const arena = new ValueArena();
  const budget = new MemoryBudget();
  const a = new PartitionStore({ partition: 0, budget, arena });
  const b = new PartitionStore({ partition: 1, budget, arena });
  for (let i = 0; i < 100; i++) {
    a.execute({ op: 'set', key: `a${i}`, value: new Uint8Array(1_000).fill(i) }, t0);
  }
  const held = arena.bytesHeld;
  a.clear();
  for (let i = 0; i < 100; i++) {
    b.execute({ op: 'set', key: `b${i}`, value: new Uint8Array(1_000).fill(i) }, t0);
  }
  assert.equal(arena.bytesHeld, held, 'b reused the slots a gave back');
  assert.deepEqual(
    [...okResult(b.execute({ op: 'get', key: 'b7' }, t0), 'get').entry!.value.subarray(0, 2)],
    [7, 7],
  );
});
