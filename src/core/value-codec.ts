/**
 * Values are JSON-compatible documents kept encoded as MessagePack: compact, fast to copy,
 * and opaque to the node for get and set (it stores and returns the bytes it was given).
 * Only patch and cas decode a value on the node. The client and the node share this codec
 * so that both sides agree byte for byte.
 *
 * msgpackr is configured without records or structures: every encoded value stands alone,
 * so a value written by one client version is readable by any other.
 *
 * A `__proto__` key. msgpackr builds objects by assignment, where `__proto__` would set the
 * prototype, so it renames that key to `__proto_` while decoding: a field named `__proto__`
 * (which JSON.parse makes an own property) would come back under another name, or over a
 * `__proto_` field. decodeValue gives it back as an own property instead, defined, never
 * assigned, as JSON.parse does, so the object's prototype stays Object.prototype. Values with
 * such a key are rare: only bytes that contain the key's text at all take the slower decode
 * through Map objects. Patch paths still refuse the name outright (store/patch.ts), and the
 * request frames that carry patch operands still rename it, so the session stores send a
 * value holding it whole (session/merge.ts).
 */
import { createPackr } from './msgpack.js';

const packr = createPackr();
const mapPackr = createPackr({ mapsAsObjects: false });
const protoKey = '__proto__';
const protoKeyBytes = new TextEncoder().encode(protoKey);

/** Encodes a JSON-compatible value. The result is a fresh buffer the caller may keep. */
export function encodeValue(value: unknown): Uint8Array {
  // pack() returns a view into msgpackr's 8 KiB working buffer; copy so that a kept value
  // holds only its own bytes. (Buffer#slice would return another view, hence the constructor.)
  return new Uint8Array(packr.pack(value));
}

/**
 * Encodes without copying: a view into msgpackr's working buffer. msgpackr never writes over
 * bytes it has handed out (it continues after them, then moves to a new buffer), so the view
 * stays valid; keeping it keeps that working buffer alive, so use it for bytes that are
 * about to be copied (into a frame), not for bytes to keep.
 */
export function encodeValueTransient(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes bytes produced by encodeValue. Throws on malformed input. */
export function decodeValue(bytes: Uint8Array): unknown {
  // A key's UTF-8 bytes are contiguous in any MessagePack string form: without them, no map
  // in the value has the key, and msgpackr's own objects are exact.
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.indexOf(protoKeyBytes) === -1) return packr.unpack(bytes);
  return objectsOf(mapPackr.unpack(bytes));
}

/** The decoded value with every Map as a plain object, a `__proto__` key as an own field. */
function objectsOf(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = objectsOf(value[i]);
    return value;
  }
  if (!(value instanceof Map)) return value;
  const object: Record<string, unknown> = {};
  for (const [key, field] of value as Map<unknown, unknown>) {
    // String() as an assignment would convert a non-string key.
    const name = String(key);
    if (name === protoKey) {
      Object.defineProperty(object, name, {
        value: objectsOf(field),
        writable: true,
        enumerable: true,
        configurable: true,
      });
    } else {
      object[name] = objectsOf(field);
    }
  }
  return object;
}
