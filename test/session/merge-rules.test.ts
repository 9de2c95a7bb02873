/**
 * The rules of merge on save (src/session/merge.ts), one per test, and a property: the
 * operations computed from loaded -> saved turn loaded into saved, both through a real
 * partition store's patch and through the local applier.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyLocally,
  canonical,
  copyDocument,
  diffDocuments,
  sameJson,
  toPatchOps,
  type Doc,
} from '../../src/session/merge.js';
import { decodeValue, encodeValue } from '../../src/core/value-codec.js';
import { MemoryBudget, PartitionStore } from '../../src/store/index.js';

test('an unchanged field produces nothing, whatever the order of keys', () => {
  assert.deepEqual(diffDocuments({ a: { x: 1, y: 2 } }, { a: { y: 2, x: 1 } }), []);
});

test('a new field is set and a removed field is unset', () => {
  assert.deepEqual(diffDocuments({ gone: 1 }, { added: 2 }), [
    { op: 'set', path: ['added'], value: 2 },
    { op: 'unset', path: ['gone'] },
  ]);
});

test('objects are merged field by field', () => {
  assert.deepEqual(
    diffDocuments({ prefs: { theme: 'a', lang: 'en' } }, { prefs: { theme: 'b', lang: 'en' } }),
    [{ op: 'set', path: ['prefs', 'theme'], value: 'b' }],
  );
});

test('the cookie is written whole', () => {
  assert.deepEqual(
    diffDocuments({ cookie: { expires: 'a', path: '/' } }, { cookie: { expires: 'b', path: '/' } }),
    [{ op: 'set', path: ['cookie'], value: { expires: 'b', path: '/' } }],
  );
});

test('an array of distinct items with items appended and removed becomes add and remove', () => {
  assert.deepEqual(
    diffDocuments({ cart: ['tea', 'jam', 'egg'] }, { cart: ['tea', 'egg', 'oil'] }),
    [
      { op: 'remove', path: ['cart'], values: ['jam'], value: ['tea', 'egg', 'oil'] },
      { op: 'add', path: ['cart'], values: ['oil'], value: ['tea', 'egg', 'oil'] },
    ],
  );
});

test('a reordered array, or one with duplicates, is set whole', () => {
  assert.deepEqual(diffDocuments({ a: [1, 2] }, { a: [2, 1] }), [
    { op: 'set', path: ['a'], value: [2, 1] },
  ]);
  assert.deepEqual(diffDocuments({ a: ['tea'] }, { a: ['tea', 'tea'] }), [
    { op: 'set', path: ['a'], value: ['tea', 'tea'] },
  ]);
  assert.deepEqual(diffDocuments({ a: [1, 2] }, { a: [0, 1, 2] }), [
    { op: 'set', path: ['a'], value: [0, 1, 2] },
  ]);
});

test('a number is set, unless its path is a counter: then it is incremented by the difference', () => {
  assert.deepEqual(
    diffDocuments({ views: 3, at: 10 }, { views: 4, at: 20 }, { counters: new Set(['views']) }),
    [
      { op: 'set', path: ['at'], value: 20 },
      { op: 'incr', path: ['views'], by: 1, value: 4 },
    ],
  );
});

test('a field name that is not a patch path segment makes the patch inexpressible', () => {
  assert.equal(toPatchOps(diffDocuments({}, { 'a.b': 1 })), null);
  assert.equal(toPatchOps(diffDocuments({}, { '': 1 })), null);
  assert.deepEqual(toPatchOps(diffDocuments({}, { ab: 1 })), [{ op: 'set', path: 'ab', value: 1 }]);
});

test('a value holding a __proto__ key, at any depth, makes the patch inexpressible', () => {
  const proto = JSON.parse('{"__proto__":1}') as Doc;
  assert.equal(toPatchOps(diffDocuments({}, { prefs: { deep: [proto] } })), null);
  assert.equal(toPatchOps(diffDocuments({ cart: [] }, { cart: [proto] })), null);
  assert.equal(toPatchOps(diffDocuments({ cart: [proto] }, { cart: [] })), null);
});

test('the local applier gives a type conflict to this request: last writer wins on that field', () => {
  const ops = diffDocuments({ cart: ['tea'] }, { cart: ['tea', 'jam'] });
  assert.deepEqual(applyLocally({ cart: 'replaced by another request' }, ops), {
    cart: ['tea', 'jam'],
  });
});

test('concurrent changes of different fields both survive a merge', () => {
  const loaded = { a: 1, b: 1, cart: ['x'] };
  const first = diffDocuments(loaded, { a: 2, b: 1, cart: ['x', 'y'] });
  const second = diffDocuments(loaded, { a: 1, b: 2, cart: ['z'] });
  const stored = applyLocally(applyLocally(structuredClone(loaded), first), second);
  assert.deepEqual(stored, { a: 2, b: 2, cart: ['y', 'z'] });
});

// ---- the property -------------------------------------------------------------------------

const name = fc.constantFrom('a', 'b', 'cart', 'user', 'n', 'x.y', 'prefs');
const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.boolean(), fc.constant(null));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(leaf, { maxLength: 4 }),
    fc.uniqueArray(fc.string({ maxLength: 2 }), { maxLength: 4 }),
    fc.dictionary(name, tie('value'), { maxKeys: 3 }),
  ),
})).value;
const doc = fc.dictionary(name, value, { maxKeys: 5 }) as fc.Arbitrary<Doc>;

function patchedByStore(loaded: Doc, saved: Doc): unknown {
  const store = new PartitionStore({ partition: 0, budget: new MemoryBudget() });
  const now = 1_700_000_000_000;
  store.execute({ op: 'set', key: 'k', value: new Uint8Array(encodeValue(loaded)) }, now);
  const ops = toPatchOps(diffDocuments(loaded, saved, { counters: new Set(['n']) }));
  if (ops === null) return 'inexpressible';
  const { outcome } = store.execute({ op: 'patch', key: 'k', ops, create: false }, now);
  assert.ok(outcome.ok, JSON.stringify(outcome));
  const entry = store.execute({ op: 'get', key: 'k' }, now).outcome;
  assert.ok(entry.ok && entry.result.op === 'get' && entry.result.entry !== null);
  return decodeValue(entry.result.entry.value);
}

test('the operations turn what was loaded into what was saved, on a node and locally', () => {
  fc.assert(
    fc.property(doc, doc, (loaded, saved) => {
      const expected = JSON.parse(JSON.stringify(saved)) as Doc;
      const ops = diffDocuments(loaded, saved, { counters: new Set(['n']) });
      assert.deepEqual(applyLocally(structuredClone(loaded), ops), expected);
      const byStore = patchedByStore(loaded, saved);
      if (byStore !== 'inexpressible') assert.deepEqual(byStore, expected);
    }),
    { numRuns: 300 },
  );
});

// ---- the fast comparisons against the slow obvious ones ------------------------------------

const nested: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.constantFrom(undefined, 0, -0, Number.NaN, Infinity, '1', 1, 'null'),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(name, tie('value'), { maxKeys: 3 }),
  ),
})).value;

/** The same document with every object's keys in reverse order. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reordered(v)]),
    );
  }
  return value;
}

test('two objects are the same document exactly when their canonical texts are equal', () => {
  const object = fc.dictionary(name, nested, { maxKeys: 4 });
  fc.assert(
    fc.property(object, object, fc.boolean(), (a, b, reorder) => {
      const other = reorder ? reordered(a) : b;
      assert.equal(sameJson(a, other), canonical(a) === canonical(other));
    }),
    { numRuns: 500 },
  );
});

test('a copied document is equal to the original and shares no object with it', () => {
  fc.assert(
    fc.property(doc, (original) => {
      const copy = copyDocument(original);
      // As structuredClone copies it (fast-check's dictionaries have no prototype; copies do).
      assert.deepEqual(copy, structuredClone(original));
      const objects = (value: unknown, found: Set<unknown>): Set<unknown> => {
        if (typeof value === 'object' && value !== null) {
          found.add(value);
          for (const v of Object.values(value)) objects(v, found);
        }
        return found;
      };
      const originals = objects(original, new Set());
      for (const object of objects(copy, new Set())) assert.ok(!originals.has(object));
    }),
    { numRuns: 200 },
  );
});
