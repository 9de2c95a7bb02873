import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCode } from '../../src/core/errors.js';
import type { EntryView, PatchOp } from '../../src/store/index.js';
import { dec, enc, failure, newStore, okResult, t0 } from './helpers.js';

/** Two answers of a get hold the same entry: bytes, version and expiry (each is a copy). */
function assertSameEntry(a: EntryView | null | undefined, b: EntryView | null | undefined): void {
  assert.deepEqual(
    a && { value: [...a.value], version: a.version, expiresAt: a.expiresAt },
    b && { value: [...b.value], version: b.version, expiresAt: b.expiresAt },
  );
}

test('a failing op in the middle leaves the entry unchanged', () => {
  const store = newStore();
  store.execute(
    { op: 'set', key: 'k', value: enc({ n: 1, name: 'ada', tags: ['x'] }), ttlMs: 9_000 },
    t0,
  );
  const before = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  const execution = store.execute(
    {
      op: 'patch',
      key: 'k',
      ops: [
        { op: 'incr', path: 'n', by: 1 },
        { op: 'set', path: 'fresh.deep', value: 1 },
        { op: 'incr', path: 'name', by: 1 },
        { op: 'add', path: 'tags', values: ['y'] },
      ],
    },
    t0,
  );
  failure(execution, ErrorCode.BAD_REQUEST);
  assert.equal(execution.mutations.length, 0);
  const after = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  // A get answers with a copy: unchanged means the same bytes, version and expiry.
  assertSameEntry(after, before);
  assert.deepEqual(dec(after?.value ?? new Uint8Array()), { n: 1, name: 'ada', tags: ['x'] });
  assert.equal(store.lastSeq, 1);
});

test('a failing patch of an absent key creates nothing', () => {
  const store = newStore();
  failure(
    store.execute(
      {
        op: 'patch',
        key: 'k',
        ops: [
          { op: 'set', path: 'a', value: 'text' },
          { op: 'set', path: 'a.b', value: 1 },
        ],
      },
      t0,
    ),
    ErrorCode.BAD_REQUEST,
  );
  assert.equal(store.size, 0);
  assert.equal(store.bytes, 0);
});

/** The obvious reference: apply the ops to a JSON copy one by one, stopping at a refusal. */
function reference(doc: Record<string, unknown>, ops: PatchOp[]): Record<string, unknown> | null {
  const copy = structuredClone(doc);
  for (const op of ops) {
    const path = op.path.split('.');
    let parent: Record<string, unknown> = copy;
    for (const segment of path.slice(0, -1)) {
      const next = parent[segment];
      if (next === undefined) {
        if (op.op === 'unset' || op.op === 'remove') {
          parent = {};
          break;
        }
        parent[segment] = {};
        parent = parent[segment] as Record<string, unknown>;
      } else if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
        parent = next as Record<string, unknown>;
      } else return null;
    }
    const field = path[path.length - 1] as string;
    const current = parent[field];
    if (op.op === 'set') parent[field] = structuredClone(op.value);
    else if (op.op === 'unset') delete parent[field];
    else if (op.op === 'incr') {
      if (current !== undefined && typeof current !== 'number') return null;
      parent[field] = ((current as number | undefined) ?? 0) + op.by;
    } else if (op.op === 'add') {
      if (current !== undefined && !Array.isArray(current)) return null;
      const list = (current as unknown[] | undefined) ?? [];
      for (const v of op.values)
        if (!list.some((e) => JSON.stringify(e) === JSON.stringify(v))) list.push(v);
      parent[field] = list;
    } else {
      if (current === undefined) continue;
      if (!Array.isArray(current)) return null;
      parent[field] = current.filter(
        (e) => !op.values.some((v) => JSON.stringify(e) === JSON.stringify(v)),
      );
    }
  }
  return copy;
}

test('a patch applies all of its ops or none of them', () => {
  const pathArb = fc.constantFrom('a', 'b', 'a.x', 'b.y', 'a.x.z');
  const scalarArb = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('s', 't'));
  const opArb: fc.Arbitrary<PatchOp> = fc.oneof(
    fc.record({
      op: fc.constant('set' as const),
      path: pathArb,
      value: fc.oneof(scalarArb, fc.constant({})),
    }),
    fc.record({ op: fc.constant('unset' as const), path: pathArb }),
    fc.record({
      op: fc.constant('incr' as const),
      path: pathArb,
      by: fc.integer({ min: -3, max: 3 }),
    }),
    fc.record({
      op: fc.constant('add' as const),
      path: pathArb,
      values: fc.array(scalarArb, { maxLength: 3 }),
    }),
    fc.record({
      op: fc.constant('remove' as const),
      path: pathArb,
      values: fc.array(scalarArb, { maxLength: 3 }),
    }),
  );
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 8 }),
      fc.array(opArb, { maxLength: 8 }),
      (setup, ops) => {
        const store = newStore();
        store.execute({ op: 'set', key: 'k', value: enc({}) }, t0);
        store.execute({ op: 'patch', key: 'k', ops: setup }, t0);
        const before = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
        assert.ok(before);
        const expected = reference(dec(before.value) as Record<string, unknown>, ops);
        const execution = store.execute({ op: 'patch', key: 'k', ops }, t0);
        const after = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
        if (expected === null) {
          failure(execution, ErrorCode.BAD_REQUEST);
          assertSameEntry(after, before);
        } else {
          okResult(execution, 'patch');
          assert.deepEqual(dec(after?.value ?? new Uint8Array()), expected);
        }
      },
    ),
  );
});
