import test from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../src/core/errors.js';
import type { PatchOp } from '../../src/store/index.js';
import { enc, failure, newStore, okResult, t0 } from './helpers.js';

const forbidden = ['__proto__', 'constructor', 'prototype'];

function opsFor(path: string): PatchOp[] {
  return [
    { op: 'set', path, value: { polluted: true } },
    { op: 'unset', path },
    { op: 'incr', path, by: 1 },
    { op: 'add', path, values: ['polluted'] },
    { op: 'remove', path, values: ['polluted'] },
  ];
}

function paths(segment: string): string[] {
  return [
    segment,
    `${segment}.polluted`,
    `a.${segment}`,
    `a.${segment}.polluted`,
    `a.b.${segment}`,
  ];
}

function prototypeIsClean(): void {
  for (const name of ['polluted', 'isAdmin']) {
    assert.equal(Object.hasOwn(Object.prototype, name), false, `Object.prototype.${name} exists`);
    assert.equal(({} as Record<string, unknown>)[name], undefined);
  }
}

for (const segment of forbidden) {
  test(`every op kind refuses a path through ${segment} and leaves Object.prototype clean`, () => {
    const store = newStore();
    const doc = enc({ a: { b: {} } });
    store.execute({ op: 'set', key: 'k', value: doc }, t0);
    for (const path of paths(segment)) {
      for (const op of opsFor(path)) {
        const execution = store.execute({ op: 'patch', key: 'k', ops: [op] }, t0);
        assert.match(failure(execution, ErrorCode.BAD_REQUEST).message, /not allowed/);
        assert.equal(execution.mutations.length, 0);
      }
    }
    const entry = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
    assert.deepEqual([...(entry?.value ?? [])], [...doc]);
    prototypeIsClean();
  });
}

test('a forbidden path after valid ops refuses the whole patch', () => {
  const store = newStore();
  const execution = store.execute(
    {
      op: 'patch',
      key: 'k',
      ops: [
        { op: 'set', path: 'ok', value: 1 },
        { op: 'set', path: '__proto__.isAdmin', value: true },
      ],
    },
    t0,
  );
  failure(execution, ErrorCode.BAD_REQUEST);
  assert.equal(store.size, 0);
  prototypeIsClean();
});

test('an operand carrying an own __proto__ key is refused', () => {
  const store = newStore();
  const value: unknown = JSON.parse('{"__proto__": {"isAdmin": true}}');
  failure(
    store.execute({ op: 'patch', key: 'k', ops: [{ op: 'set', path: 'user', value }] }, t0),
    ErrorCode.BAD_REQUEST,
  );
  failure(
    store.execute({ op: 'patch', key: 'k', ops: [{ op: 'add', path: 'l', values: [value] }] }, t0),
    ErrorCode.BAD_REQUEST,
  );
  prototypeIsClean();
});

test('a stored document with a __proto__ field cannot be used to pollute through patch', () => {
  const store = newStore();
  // The codec decodes a __proto__ key as an own field, never a prototype: plain data.
  store.execute({ op: 'set', key: 'k', value: enc(JSON.parse('{"__proto__": {"x": 1}}')) }, t0);
  okResult(
    store.execute({ op: 'patch', key: 'k', ops: [{ op: 'set', path: 'y', value: 1 }] }, t0),
    'patch',
  );
  prototypeIsClean();
});
