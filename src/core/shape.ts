/**
 * The shape checks every validator of untrusted input shares (protocol frames, Raft and
 * replication messages, control commands, the Raft log read back from disk).
 */

export type Fields = Record<string, unknown>;

/**
 * A plain map: an object whose prototype is Object.prototype or null. Arrays, byte arrays,
 * dates and class instances are not maps, so a field read from one is always an own field
 * of decoded data.
 */
export function isPlainMap(value: unknown): value is Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A non-negative safe integer, at most `max`. */
export function isUint(value: unknown, max = Number.MAX_SAFE_INTEGER): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max;
}
