/**
 * `toJsonDocument(value)` gives what `JSON.parse(JSON.stringify(value))` gives, without the
 * string in between: `toJSON` is called (with the property's key), Dates become strings,
 * boxed primitives are unwrapped, `undefined`, functions and symbols are left out of objects
 * and become null in arrays, NaN and the infinities become null, -0 becomes 0, only own
 * enumerable string keys are kept, and a `__proto__` key becomes an own property, as
 * JSON.parse makes it. A cycle or a BigInt (boxed or not) throws a TypeError, as
 * JSON.stringify does. One difference is left: the walk recurses, so a document nested some
 * thousands of levels deep throws a RangeError that JSON.stringify would not.
 *
 * Why: the session stores serialize every saved session this way, and the round trip
 * through a string cost two to three times the walk (a JSON string built and parsed back).
 * test/session/json-document.test.ts checks the two agree on arbitrary values.
 */
import { types } from 'node:util';

export function toJsonDocument(value: unknown): unknown {
  return walk(value, '', []);
}

function walk(input: unknown, key: string, ancestors: object[]): unknown {
  let value = input;
  if (
    (typeof value === 'object' && value !== null) ||
    typeof value === 'function' ||
    typeof value === 'bigint'
  ) {
    // Read once, as JSON.stringify does: a getter runs once.
    const toJSON: unknown = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = (toJSON as (key: string) => unknown).call(value, key);
  }
  if (typeof value === 'object' && value !== null) {
    // By their internal slot, as JSON.stringify does, so that a boxed value from another
    // realm or behind a subclass unwraps too (instanceof would miss it).
    if (types.isNumberObject(value)) value = Number(value);
    else if (types.isStringObject(value)) value = String(value);
    else if (types.isBooleanObject(value)) value = Boolean.prototype.valueOf.call(value);
    else if (types.isBigIntObject(value)) value = BigInt.prototype.valueOf.call(value);
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // `+ 0` turns -0 into 0, as the text "0" would.
      return Number.isFinite(value) ? value + 0 : null;
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    case 'object':
      if (value === null) return null;
      if (ancestors.includes(value)) throw new TypeError('Converting circular structure to JSON');
      ancestors.push(value);
      try {
        return Array.isArray(value) ? walkArray(value, ancestors) : walkObject(value, ancestors);
      } finally {
        ancestors.pop();
      }
    default:
      // undefined, functions, symbols: no JSON text at all.
      return undefined;
  }
}

function walkArray(array: readonly unknown[], ancestors: object[]): unknown[] {
  const out = new Array<unknown>(array.length);
  for (let i = 0; i < array.length; i++) {
    const element = walk(array[i], String(i), ancestors);
    out[i] = element === undefined ? null : element;
  }
  return out;
}

function walkObject(object: object, ancestors: object[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(object)) {
    const field = walk((object as Record<string, unknown>)[key], key, ancestors);
    if (field === undefined) continue;
    if (key === '__proto__') {
      Object.defineProperty(out, key, {
        value: field,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      out[key] = field;
    }
  }
  return out;
}
