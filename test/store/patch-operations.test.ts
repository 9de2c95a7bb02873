import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonEqual } from '../../src/store/json-equal.js';
import { ErrorCode } from '../../src/core/errors.js';
import { patchOpsMax, patchPathDepthMax } from '../../src/core/limits.js';
import type { PartitionStore, PatchOp } from '../../src/store/index.js';
import { dec, enc, failure, newStore, okResult, read, t0 } from './helpers.js';

function storeWith(doc: unknown): PartitionStore {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(doc) }, t0);
  return store;
}

function patched(doc: unknown, ...ops: PatchOp[]): unknown {
  const store = storeWith(doc);
  okResult(store.execute({ op: 'patch', key: 'k', ops }, t0), 'patch');
  return read(store, 'k');
}

function refused(doc: unknown, ...ops: PatchOp[]): string {
  const store = storeWith(doc);
  return failure(store.execute({ op: 'patch', key: 'k', ops }, t0), ErrorCode.BAD_REQUEST).message;
}

test('set writes a field', () => {
  assert.deepEqual(patched({ a: 1 }, { op: 'set', path: 'b', value: { c: [1] } }), {
    a: 1,
    b: { c: [1] },
  });
});

test('set creates missing objects along the path', () => {
  assert.deepEqual(patched({}, { op: 'set', path: 'a.b.c', value: true }), {
    a: { b: { c: true } },
  });
});

test('set through a value that is not an object is refused', () => {
  assert.match(refused({ a: 'text' }, { op: 'set', path: 'a.b', value: 1 }), /not an object/);
  refused({ a: [1, 2] }, { op: 'set', path: 'a.0', value: 1 });
  refused({ a: null }, { op: 'set', path: 'a.b', value: 1 });
});

test('set refuses a missing value', () => {
  refused({}, { op: 'set', path: 'a' } as unknown as PatchOp);
});

test('unset removes a field', () => {
  assert.deepEqual(patched({ a: 1, b: { c: 2, d: 3 } }, { op: 'unset', path: 'b.c' }), {
    a: 1,
    b: { d: 3 },
  });
});

test('unset of a missing field or a missing parent changes nothing', () => {
  assert.deepEqual(patched({ a: 1 }, { op: 'unset', path: 'x' }, { op: 'unset', path: 'y.z' }), {
    a: 1,
  });
});

test('incr adds to a number', () => {
  assert.deepEqual(patched({ n: 5 }, { op: 'incr', path: 'n', by: -2.5 }), { n: 2.5 });
});

test('incr of a missing field starts from 0, creating its parents', () => {
  assert.deepEqual(patched({}, { op: 'incr', path: 'stats.views', by: 3 }), {
    stats: { views: 3 },
  });
});

test('incr of a field that is not a number is refused', () => {
  assert.match(refused({ n: '5' }, { op: 'incr', path: 'n', by: 1 }), /not a number/);
});

test('incr by a value that is not a finite number is refused', () => {
  refused({ n: 1 }, { op: 'incr', path: 'n', by: Number.POSITIVE_INFINITY });
  refused({ n: 1 }, { op: 'incr', path: 'n', by: Number.NaN });
  refused({ n: 1 }, { op: 'incr', path: 'n', by: '1' } as unknown as PatchOp);
});

test('incr that would overflow to infinity is refused', () => {
  refused({ n: Number.MAX_VALUE }, { op: 'incr', path: 'n', by: Number.MAX_VALUE });
});

test('add appends the values not already present', () => {
  assert.deepEqual(
    patched({ tags: ['a', 'b'] }, { op: 'add', path: 'tags', values: ['b', 'c', 'c'] }),
    {
      tags: ['a', 'b', 'c'],
    },
  );
});

test('add compares values as documents, ignoring key order', () => {
  const doc = { items: [{ sku: 1, qty: 2 }] };
  assert.deepEqual(patched(doc, { op: 'add', path: 'items', values: [{ qty: 2, sku: 1 }] }), doc);
});

test('add on a missing field creates the array', () => {
  assert.deepEqual(patched({}, { op: 'add', path: 'cart.items', values: [1, 1, 2] }), {
    cart: { items: [1, 2] },
  });
});

test('add on a field that is not an array is refused', () => {
  assert.match(refused({ tags: 'a' }, { op: 'add', path: 'tags', values: ['b'] }), /not an array/);
});

test('remove takes out every element equal to one of the values', () => {
  assert.deepEqual(
    patched(
      { l: [1, { a: 1, b: 2 }, 1, 3, { b: 2, a: 1 }] },
      {
        op: 'remove',
        path: 'l',
        values: [1, { b: 2, a: 1 }],
      },
    ),
    { l: [3] },
  );
});

test('a string that reads like an encoded document is not taken for that document', () => {
  assert.deepEqual(patched({ l: ['[1,]', '{}'] }, { op: 'add', path: 'l', values: [[1], {}] }), {
    l: ['[1,]', '{}', [1], {}],
  });
  assert.deepEqual(patched({ l: ['[1,]', [1]] }, { op: 'remove', path: 'l', values: [[1]] }), {
    l: ['[1,]'],
  });
});

/** Arrays of small JSON values, with many equal ones (few distinct leaves, keys in any order). */
const jsonElements = fc.array(
  fc.oneof(
    fc.constantFrom(0, 1, 'a', 'b', true, null),
    fc.array(fc.constantFrom(0, 1, 'a'), { maxLength: 2 }),
    fc
      .dictionary(fc.constantFrom('x', 'y'), fc.constantFrom(0, 1, [0], { z: 1 }))
      .map((d) => ({ ...d })),
  ),
  { maxLength: 12 },
);

test('add and remove agree with comparing every pair of values as documents', () => {
  fc.assert(
    fc.property(jsonElements, jsonElements, (present, values) => {
      const added = [...present];
      for (const v of values) if (!added.some((e) => jsonEqual(e, v))) added.push(v);
      assert.deepEqual(patched({ l: present }, { op: 'add', path: 'l', values }), { l: added });
      const kept = present.filter((e) => !values.some((v) => jsonEqual(e, v)));
      assert.deepEqual(patched({ l: present }, { op: 'remove', path: 'l', values }), { l: kept });
    }),
  );
});

test('remove on a missing field changes nothing', () => {
  assert.deepEqual(patched({ a: 1 }, { op: 'remove', path: 'l', values: [1] }), { a: 1 });
  assert.deepEqual(patched({ a: 1 }, { op: 'remove', path: 'x.l', values: [1] }), { a: 1 });
});

test('remove on a field that is not an array is refused', () => {
  refused({ l: { 0: 1 } }, { op: 'remove', path: 'l', values: [1] });
});

test('add and remove refuse values that are not an array', () => {
  refused({}, { op: 'add', path: 'l', values: 1 } as unknown as PatchOp);
  refused({}, { op: 'remove', path: 'l', values: 'x' } as unknown as PatchOp);
});

test('operations apply in order, each seeing the ones before it', () => {
  assert.deepEqual(
    patched(
      {},
      { op: 'set', path: 'a', value: { n: 1 } },
      { op: 'incr', path: 'a.n', by: 1 },
      { op: 'add', path: 'a.l', values: ['x'] },
      { op: 'unset', path: 'b' },
    ),
    { a: { n: 2, l: ['x'] } },
  );
});

test('a patch never changes the objects the caller passed in', () => {
  const value = { n: 1, list: [1] };
  patched(
    {},
    { op: 'set', path: 'a', value },
    { op: 'incr', path: 'a.n', by: 1 },
    {
      op: 'add',
      path: 'a.list',
      values: [2],
    },
  );
  assert.deepEqual(value, { n: 1, list: [1] });
});

test('an inherited name such as toString is an ordinary missing field', () => {
  assert.deepEqual(patched({}, { op: 'incr', path: 'toString', by: 1 }), { toString: 1 });
  assert.deepEqual(patched({}, { op: 'set', path: 'hasOwnProperty.x', value: 1 }), {
    hasOwnProperty: { x: 1 },
  });
});

test('values JSON cannot carry are refused', () => {
  refused({}, { op: 'set', path: 'a', value: Number.NaN });
  refused({}, { op: 'set', path: 'a', value: () => 1 });
  refused({}, { op: 'set', path: 'a', value: new Date(0) });
  refused({}, { op: 'set', path: 'a', value: [undefined] });
  refused({}, { op: 'add', path: 'a', values: [10n] });
});

test('an unknown op is refused', () => {
  assert.match(refused({}, { op: 'merge', path: 'a' } as unknown as PatchOp), /unknown op/);
});

test('an empty path or an empty segment is refused', () => {
  refused({}, { op: 'set', path: '', value: 1 });
  refused({}, { op: 'set', path: 'a..b', value: 1 });
  refused({}, { op: 'set', path: 'a.', value: 1 });
});

test(`a path of more than ${patchPathDepthMax} segments is refused`, () => {
  const deepest = Array.from({ length: patchPathDepthMax }, () => 'a').join('.');
  patched({}, { op: 'set', path: deepest, value: 1 });
  refused({}, { op: 'set', path: `${deepest}.a`, value: 1 });
});

test(`a patch of more than ${patchOpsMax} ops is refused`, () => {
  const ops: PatchOp[] = Array.from({ length: patchOpsMax + 1 }, () => ({
    op: 'incr',
    path: 'n',
    by: 1,
  }));
  refused({}, ...ops);
  assert.deepEqual(patched({}, ...ops.slice(1)), { n: patchOpsMax });
});

test('patch of an absent key starts from an empty document by default', () => {
  const store = newStore();
  okResult(
    store.execute({ op: 'patch', key: 'k', ops: [{ op: 'set', path: 'a', value: 1 }] }, t0),
    'patch',
  );
  assert.deepEqual(read(store, 'k'), { a: 1 });
});

test('patch with create false on an absent key answers NOT_FOUND', () => {
  const store = newStore();
  failure(
    store.execute({ op: 'patch', key: 'k', ops: [], create: false }, t0),
    ErrorCode.NOT_FOUND,
  );
  assert.equal(store.size, 0);
});

test('patch of a value that is not an object is refused', () => {
  assert.match(refused([1, 2], { op: 'set', path: 'a', value: 1 }), /not an object/);
  refused('text', { op: 'set', path: 'a', value: 1 });
});

test('patch answers the new version, and the new value when asked', () => {
  const store = storeWith({ n: 1 });
  const plain = okResult(
    store.execute({ op: 'patch', key: 'k', ops: [{ op: 'incr', path: 'n', by: 1 }] }, t0),
    'patch',
  );
  assert.equal(plain.version, 2);
  assert.equal(plain.value, undefined);
  const withValue = okResult(
    store.execute(
      { op: 'patch', key: 'k', ops: [{ op: 'incr', path: 'n', by: 1 }], returnValue: true },
      t0,
    ),
    'patch',
  );
  assert.ok(withValue.value);
  assert.deepEqual(dec(withValue.value), { n: 3 });
});

test('patch emits a put of the whole new value', () => {
  const store = storeWith({ n: 1 });
  const { mutations } = store.execute(
    { op: 'patch', key: 'k', ops: [{ op: 'incr', path: 'n', by: 1 }] },
    t0,
  );
  assert.equal(mutations.length, 1);
  const put = mutations[0];
  assert.ok(put?.kind === 'put');
  assert.deepEqual(dec(put.value), { n: 2 });
});

test('patch with another ifVersion is refused with the current version', () => {
  const store = storeWith({});
  const refusal = failure(
    store.execute({ op: 'patch', key: 'k', ops: [], ifVersion: 7 }, t0),
    ErrorCode.VERSION_MISMATCH,
  );
  assert.equal(refusal.meta?.currentVersion, 1);
  okResult(store.execute({ op: 'patch', key: 'k', ops: [], ifVersion: 1 }, t0), 'patch');
});

test('patch without ttlMs keeps the expiry and with ttlMs sets it', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc({}), ttlMs: 1_000 }, t0);
  store.execute({ op: 'patch', key: 'k', ops: [] }, t0);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0), 'ttl').ttlMs, 1_000);
  store.execute({ op: 'patch', key: 'k', ops: [], ttlMs: 50 }, t0);
  assert.equal(okResult(store.execute({ op: 'ttl', key: 'k' }, t0), 'ttl').ttlMs, 50);
});

test('patch of a stored value that is not valid MessagePack is refused', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: new Uint8Array([0x92, 0x01]) }, t0);
  failure(store.execute({ op: 'patch', key: 'k', ops: [] }, t0), ErrorCode.BAD_REQUEST);
});

test('an operand nested thousands of levels deep is refused, not a stack overflow', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 20_000; i++) deep = [deep];
  assert.match(refused({}, { op: 'set', path: 'a', value: deep }), /deeper than 512 levels/);
  let fine: unknown = 1;
  for (let i = 0; i < 100; i++) fine = { x: fine };
  assert.deepEqual((patched({}, { op: 'set', path: 'a', value: fine }) as { a: unknown }).a, fine);
});
