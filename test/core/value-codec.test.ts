import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeValue, encodeValue } from '../../src/core/value-codec.js';

test('any JSON value survives an encode and decode unchanged', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      // JSON cannot tell -0 from 0; neither need the store.
      assert.deepEqual(decodeValue(encodeValue(value)), JSON.parse(JSON.stringify(value)) ?? null);
    }),
  );
});

test('a __proto__ key, at any depth, is decoded as an own field of that name, as JSON.parse makes it', () => {
  const key = fc.constantFrom('__proto__', '__proto_', 'a');
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.integer(),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(key, tie('value'), { maxKeys: 3 }),
    ),
  }));
  fc.assert(
    fc.property(value, (value) => {
      assert.deepEqual(decodeValue(encodeValue(value)), JSON.parse(JSON.stringify(value)));
    }),
  );
});

test('an encoded value owns exactly its bytes and no larger buffer', () => {
  const bytes = encodeValue({ small: 1 });
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, bytes.byteLength);
});

test('a __proto__ key never becomes a prototype when decoded', () => {
  const decoded = decodeValue(
    encodeValue(JSON.parse('{"a":[{"__proto__":{"polluted":true}}]}')),
  ) as { a: Record<string, unknown>[] };
  const inner = decoded.a[0]!;
  assert.equal(Object.getPrototypeOf(inner), Object.prototype);
  assert.ok(Object.hasOwn(inner, '__proto__'));
  assert.equal(inner['polluted'], undefined);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('bytes from the transient encoder stay valid while later values are encoded', async () => {
  const { encodeValueTransient } = await import('../../src/core/value-codec.js');
  const kept: [unknown, Uint8Array][] = [];
  for (let i = 0; i < 20_000; i++) {
    const value = { i, s: 'x'.repeat(i % 2_000) };
    kept.push([value, encodeValueTransient(value)]);
  }
  for (const [value, bytes] of kept) assert.deepEqual(decodeValue(bytes), value);
});
