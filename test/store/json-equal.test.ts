import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonEqual, jsonKey } from '../../src/store/json-equal.js';

/** JSON text with keys sorted at every level: equal documents give equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The same document with every object's keys in reverse order. */
function reorder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reorder);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reorder(v)]),
    );
  }
  return value;
}

test('objects are equal whatever the order of their keys', () => {
  assert.ok(jsonEqual({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }));
});

test('arrays are equal only with equal elements in the same order', () => {
  assert.ok(jsonEqual([1, [2, 3]], [1, [2, 3]]));
  assert.ok(!jsonEqual([1, 2], [2, 1]));
  assert.ok(!jsonEqual([1], [1, 1]));
});

test('values of different kinds are never equal', () => {
  for (const [a, b] of [
    [null, {}],
    [[], {}],
    [0, '0'],
    [false, 0],
    [{ a: 1 }, { a: 1, b: 2 }],
    [{ a: 1 }, { b: 1 }],
    [new Uint8Array([1]), [1]],
  ] as const) {
    assert.ok(!jsonEqual(a, b), `${String(a)} equals ${String(b)}`);
    assert.ok(!jsonEqual(b, a), `${String(b)} equals ${String(a)}`);
  }
});

test('0 and -0 are equal, as in JSON text', () => {
  assert.ok(jsonEqual(0, -0));
});

test('a field holding undefined is the same as a missing field', () => {
  assert.ok(jsonEqual({ a: 1, b: undefined }, { a: 1 }));
  assert.ok(jsonEqual({ a: 1 }, { a: 1, b: undefined }));
});

test('binary values are equal when their bytes are', () => {
  assert.ok(jsonEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.ok(!jsonEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
});

test('an inherited property does not make a field exist', () => {
  assert.ok(!jsonEqual({ toString: 1 }, {}));
  assert.ok(!jsonEqual({}, { toString: 1 }));
});

test('two documents are equal exactly when their canonical JSON texts are', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }), (a, b) => {
      assert.equal(jsonEqual(a, b), canonical(a) === canonical(b));
    }),
  );
});

test('a document equals itself with every object reordered', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (doc) => {
      assert.ok(jsonEqual(doc, reorder(doc)));
    }),
  );
});

/** Whether two values get the same key: a null key equals nothing. */
function sameKey(a: unknown, b: unknown): boolean {
  const key = jsonKey(a);
  return key !== null && key === jsonKey(b);
}

test('two values get the same key exactly when they are equal', () => {
  const value = fc.anything({
    maxDepth: 3,
    withTypedArray: true,
    withNullPrototype: true,
    withBigInt: true,
    withDate: true,
    withSparseArray: true,
  });
  fc.assert(
    fc.property(value, value, (a, b) => {
      assert.equal(sameKey(a, b), jsonEqual(a, b));
      assert.equal(sameKey(a, structuredClone(a)), jsonEqual(a, structuredClone(a)));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (doc) => {
      assert.ok(sameKey(doc, reorder(doc)));
    }),
  );
});

test('a key tells apart the values JSON text would not', () => {
  assert.ok(!sameKey('Infinity', Infinity));
  assert.ok(!sameKey('1', 1));
  assert.ok(!sameKey([undefined], [null]));
  assert.ok(!sameKey(new Uint8Array([1]), [1]));
  assert.ok(!sameKey(1n, 1));
  assert.ok(sameKey({ a: undefined, b: -0 }, { b: 0 }));
  assert.equal(jsonKey([Number.NaN]), null);
});
