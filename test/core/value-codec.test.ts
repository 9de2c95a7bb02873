import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeValue, encodeValue } from '../../src/core/value-codec.js';

/** True when `value` has a `__proto__` key anywhere: the one key decoding renames (below). */
function hasProtoKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasProtoKey);
  if (typeof value !== 'object' || value === null) return false;
  return Object.keys(value).some(
    (k) => k === '__proto__' || hasProtoKey((value as Record<string, unknown>)[k]),
  );
}

test('any JSON value without a __proto__ key survives an encode and decode unchanged', () => {
  fc.assert(
    fc.property(
      fc.jsonValue().filter((v) => !hasProtoKey(v)),
      (value) => {
        // JSON cannot tell -0 from 0; neither need the store.
        assert.deepEqual(
          decodeValue(encodeValue(value)),
          JSON.parse(JSON.stringify(value)) ?? null,
        );
      },
    ),
  );
});

test('an encoded value owns exactly its bytes and no larger buffer', () => {
  const bytes = encodeValue({ small: 1 });
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, bytes.byteLength);
});

test('a __proto__ key never becomes a prototype when decoded', () => {
  const decoded = decodeValue(encodeValue(JSON.parse('{"__proto__":{"polluted":true}}'))) as object;
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.equal((decoded as Record<string, unknown>)['polluted'], undefined);
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
