/**
 * Binary as a tagged list of numbers, recursively, so that a Buffer and a Uint8Array with
 * the same bytes compare equal in assert.deepStrictEqual (which tells their classes apart).
 */
export function plainBytes(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Array.from(value) };
  if (Array.isArray(value)) return value.map(plainBytes);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainBytes(v)]));
  }
  return value;
}
