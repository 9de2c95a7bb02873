/**
 * Values are JSON-compatible documents kept encoded as MessagePack: compact, fast to copy,
 * and opaque to the node for get and set (it stores and returns the bytes it was given).
 * Only patch and cas decode a value on the node. The client and the node share this codec
 * so that both sides agree byte for byte.
 *
 * msgpackr is configured without records or structures: every encoded value stands alone,
 * so a value written by one client version is readable by any other. msgpackr renames a
 * `__proto__` key to `__proto_` while decoding, so a decoded value never carries a prototype
 * setter; patch paths refuse such names outright (store/patch.ts).
 */
import { createPackr } from './msgpack.js';

const packr = createPackr();

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
  return packr.unpack(bytes);
}
