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

/**
 * A text two values share exactly when `jsonEqual` holds between them (distinct values, that
 * is: a value is always equal to itself), so that a Set or a Map can find equal documents
 * without comparing each pair. Null for a value that equals nothing else: one holding NaN,
 * or a class instance other than a Uint8Array. (session/merge.ts's `canonical` is another
 * equality: JSON text's, for session documents, where undefined and NaN are null; here, as
 * in the stored MessagePack, they are not.)
 */
export function jsonKey(value: unknown): string | null {
  const parts: string[] = [];
  return writeKey(value, parts) ? parts.join('') : null;
}

function writeKey(value: unknown, out: string[]): boolean {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return true;
    case 'number':
      if (Number.isNaN(value)) return false;
      out.push(String(value)); // 0 and -0 both write "0"; Infinity is unquoted, unlike a string
      return true;
    case 'boolean':
      out.push(value ? 't' : 'f');
      return true;
    case 'undefined':
      out.push('u');
      return true;
    case 'bigint':
      out.push(`${value}n`);
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) {
    out.push('z');
    return true;
  }
  if (Array.isArray(value)) {
    out.push('[');
    for (const element of value) {
      if (!writeKey(element, out)) return false;
      out.push(',');
    }
    out.push(']');
    return true;
  }
  if (value instanceof Uint8Array) {
    out.push(`b${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')};`);
    return true;
  }
  if (!isPlainObject(value)) return false;
  out.push('{');
  for (const key of Object.keys(value).sort()) {
    const field = value[key];
    if (field === undefined) continue; // as JSON.stringify drops it
    out.push(JSON.stringify(key), ':');
    if (!writeKey(field, out)) return false;
    out.push(',');
  }
  out.push('}');
  return true;
}
