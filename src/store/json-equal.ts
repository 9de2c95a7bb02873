/**
 * Equality of decoded documents, as JSON sees them.
 *
 * `cas` compares the value a client expects with the value stored, and patch's `add` and
 * `remove` treat an array as a set of values. Both must agree with what a client means by
 * "the same document", which is not what the bytes say: two encoders, or one encoder fed
 * objects built in a different order, write `{a:1,b:2}` and `{b:2,a:1}` differently. So the
 * comparison is structural: objects are equal when they have the same own keys with equal
 * values, in any order; arrays when they have equal elements in the same order; numbers by
 * value (so 0 equals -0, as in JSON text). A key whose value is `undefined` does not exist,
 * as JSON.stringify would drop it. Binary values (MessagePack `bin`, decoded as Uint8Array)
 * are equal when their bytes are.
 */

/** A `{...}` object: not an array, not a class instance such as a Uint8Array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (!jsonEqual(a[i], b[i])) return false;
    }
    return true;
  }
  if (Array.isArray(b)) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && bytesEqual(a, b);
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  let aKeys = 0;
  for (const key of Object.keys(a)) {
    const av = a[key];
    if (av === undefined) continue;
    aKeys++;
    if (!Object.hasOwn(b, key) || !jsonEqual(av, b[key])) return false;
  }
  let bKeys = 0;
  for (const key of Object.keys(b)) {
    if (b[key] !== undefined) bKeys++;
  }
  return aKeys === bKeys;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}
