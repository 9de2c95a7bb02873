/**
 * Where a key lives: its partition.
 *
 * The partition of a key is a stable hash of its UTF-8 bytes modulo the partition count,
 * which is fixed when a cluster is created. Moving partitions between nodes (control/) never
 * changes which partition a key is in, so a join or a leave moves whole partitions, about
 * 1/N of the data, instead of rehashing every key as `hash % nodes` would.
 *
 * Hash tags, as in Redis Cluster: if the key has a `{` followed later by a `}` with at least
 * one character between them, only that part is hashed, so `{user:42}:cart` and
 * `{user:42}:session` land in one partition.
 *
 * The hash is FNV-1a (32 bit) over the UTF-8 bytes, finished with MurmurHash3's fmix32 so
 * that the low bits, which the modulo keeps, depend on every input byte. It is computed from
 * the string's code points without allocating, and any language can reproduce it.
 */

const fnvOffset = 0x811c9dc5;
const fnvPrime = 0x01000193;

function fnvByte(h: number, byte: number): number {
  return Math.imul(h ^ byte, fnvPrime);
}

/** The 32-bit hash of the UTF-8 encoding of `text.slice(start, end)`. */
export function hashUtf8(text: string, start = 0, end = text.length): number {
  let h = fnvOffset;
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      h = fnvByte(h, c);
      continue;
    }
    if (c < 0x800) {
      h = fnvByte(h, 0xc0 | (c >> 6));
      h = fnvByte(h, 0x80 | (c & 0x3f));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
        h = fnvByte(h, 0xf0 | (c >> 18));
        h = fnvByte(h, 0x80 | ((c >> 12) & 0x3f));
        h = fnvByte(h, 0x80 | ((c >> 6) & 0x3f));
        h = fnvByte(h, 0x80 | (c & 0x3f));
        continue;
      }
    }
    // A lone surrogate encodes as U+FFFD, as TextEncoder does.
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    h = fnvByte(h, 0xe0 | (c >> 12));
    h = fnvByte(h, 0x80 | ((c >> 6) & 0x3f));
    h = fnvByte(h, 0x80 | (c & 0x3f));
  }
  // fmix32
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The partition of `key` among `partitionCount` partitions, honouring `{hash tags}`. */
export function partitionOf(key: string, partitionCount: number): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return hashUtf8(key, open + 1, close) % partitionCount;
  }
  return hashUtf8(key) % partitionCount;
}

/** Bytes of the UTF-8 encoding of `text`, without encoding it. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
