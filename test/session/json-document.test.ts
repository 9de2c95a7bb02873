/**
 * toJsonDocument is the stores' default serializer: it must give exactly what a JSON round
 * trip gives, for anything an application may put in a session.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import session from 'express-session';
import { toJsonDocument } from '../../src/session/json-document.js';

function jsonRoundTrip(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

/** Values with everything JSON treats specially, nested in objects and arrays. */
const awkwardValue = fc.anything({
  key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'toJSON', 'constructor', '0', '1')),
  values: [
    fc.constantFrom(undefined, null, NaN, Infinity, -Infinity, -0, () => 1, Symbol('s')),
    fc.date({ noInvalidDate: true }),
    fc.string(),
    fc.double(),
    fc.record({ toJSON: fc.constant((key: string) => `as ${key}`), hidden: fc.nat() }),
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

test('it gives what JSON.parse(JSON.stringify(value)) gives, for arbitrary values', () => {
  fc.assert(
    fc.property(awkwardValue, (value) => {
      const walked = toJsonDocument(value);
      const expected = jsonRoundTrip(value);
      assert.ok(
        isDeepStrictEqual(walked, expected) && JSON.stringify(walked) === JSON.stringify(expected),
        `walked ${JSON.stringify(walked)} but the round trip gives ${JSON.stringify(expected)}`,
      );
    }),
    { numRuns: 2_000 },
  );
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
