/**
 * toJsonDocument is the stores' default serializer: it must give exactly what a JSON round
 * trip gives, for anything an application may put in a session.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import vm from 'node:vm';
import fc from 'fast-check';
import session from 'express-session';
import { toJsonDocument } from '../../src/session/json-document.js';

function jsonRoundTrip(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

/** What a conversion gives, or the kind of error it throws. */
function outcome(convert: () => unknown): { value: unknown } | { threw: string } {
  try {
    return { value: convert() };
  } catch (error) {
    return { threw: error instanceof Error ? error.constructor.name : typeof error };
  }
}

function withToJson<T extends object>(target: T, result: unknown): T {
  return Object.assign(target, {
    toJSON: (key: string) => (result === 'key' ? `as ${key}` : result),
  });
}

/** Values with everything JSON treats specially, nested in objects and arrays. */
const awkwardValue = fc.anything({
  key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'toJSON', 'constructor', '0', '1')),
  values: [
    fc.constantFrom(undefined, null, NaN, Infinity, -Infinity, -0, () => 1, Symbol('s')),
    fc.date(),
    fc.string(),
    fc.double(),
    fc.bigInt(),
    fc.constantFrom(Object(1n) as object, vm.runInNewContext('new Number(5)') as object),
    fc.constantFrom(vm.runInNewContext('new String("s")') as object),
    fc.record({ toJSON: fc.constant((key: string) => `as ${key}`), hidden: fc.nat() }),
    fc.constantFrom('key', undefined, 7).map((result) => withToJson(() => 1, result)),
  ],
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
  maxDepth: 4,
});

test('it gives what JSON.parse(JSON.stringify(value)) gives, or throws what it throws, for arbitrary values', () => {
  fc.assert(
    fc.property(awkwardValue, (value) => {
      const walked = outcome(() => toJsonDocument(value));
      const expected = outcome(() => jsonRoundTrip(value));
      assert.ok(
        isDeepStrictEqual(walked, expected) &&
          JSON.stringify(walked, bigints) === JSON.stringify(expected, bigints),
        `walked ${JSON.stringify(walked, bigints)} but the round trip gives ${JSON.stringify(expected, bigints)}`,
      );
    }),
    { numRuns: 2_000 },
  );
});

/** For messages only: shows a BigInt instead of throwing on it. */
function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

test('toJSON is read once, as JSON.stringify reads it', () => {
  const counted = (): { reads: number; value: object } => {
    const state = { reads: 0, value: {} };
    Object.defineProperty(state.value, 'toJSON', {
      enumerable: true,
      get: () => {
        state.reads++;
        return () => state.reads;
      },
    });
    return state;
  };
  const walked = counted();
  const stringified = counted();
  assert.deepEqual(toJsonDocument(walked.value), jsonRoundTrip(stringified.value));
  assert.equal(walked.reads, 1);
});

test('a __proto__ key becomes an own property and never a prototype', () => {
  const value = JSON.parse('{"__proto__":{"admin":true},"a":1}') as object;
  const walked = toJsonDocument(value) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(walked), Object.prototype);
  assert.deepEqual(Object.keys(walked), ['__proto__', 'a']);
  assert.equal((walked as { admin?: unknown }).admin, undefined);
});

test('a cycle and a BigInt throw the TypeError JSON.stringify throws', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = { back: cyclic };
  assert.throws(() => toJsonDocument(cyclic), TypeError);
  assert.throws(() => toJsonDocument({ n: 1n }), TypeError);
});

test('the same object twice, not nested in itself, is no cycle', () => {
  const shared = { x: 1 };
  assert.deepEqual(toJsonDocument({ a: shared, b: [shared, shared] }), {
    a: { x: 1 },
    b: [{ x: 1 }, { x: 1 }],
  });
});

test("an express-session session becomes the document connect-redis's JSON would store", () => {
  // The runtime classes; their published types hide the constructors.
  const Session = session.Session as unknown as new (request: object, data: object) => object;
  const Cookie = session.Cookie as unknown as new (options: object) => object;
  const cookie = (): object => new Cookie({ maxAge: 60_000, httpOnly: true, path: '/' });
  const data = new Session(
    { sessionID: 'id', sessionStore: {} },
    { cookie: cookie(), cart: ['tea:1', 'tea:2'], user: { name: 'alice', since: new Date(0) } },
  );
  Object.assign(data, { cookie: cookie() });
  const walked = toJsonDocument(data) as { user: { since: unknown }; cookie: unknown };
  assert.deepEqual(walked, jsonRoundTrip(data));
  assert.equal(walked.user.since, new Date(0).toJSON());
  assert.equal(typeof walked.cookie, 'object');
});
