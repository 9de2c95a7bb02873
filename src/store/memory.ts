/**
 * Memory accounting: how much of a node's memory its partitions hold, and the one limit they
 * share.
 *
 * A node serves many partitions from one heap, so the limit is per node, not per partition:
 * every PartitionStore of a node holds the same MemoryBudget and charges it for each entry
 * it keeps. A primary asks `fits` before a write that grows the store and refuses the write
 * with OUT_OF_MEMORY when it does not fit, before anything changes. A write that shrinks the
 * store, a delete, and everything a backup applies are charged without asking: refusing them
 * would either keep memory the store no longer needs or make a backup diverge from its
 * primary. So `usedBytes` may pass `limitBytes` on a backup; the primary's refusals are what
 * bring it back.
 *
 * The accounting is an estimate, not a measurement of the heap: an entry costs its key's
 * UTF-8 bytes, its encoded value's bytes, and `entryOverheadBytes` for everything V8 keeps
 * around them. It is deterministic, so a primary and its backups agree on it exactly, and it
 * returns to zero when every entry is gone.
 */
import { assert } from '../core/assert.js';

/**
 * What V8 keeps for one entry beyond its key and value bytes, measured rather than guessed.
 *
 * Node 20 on x64, 200,000 entries shaped as PartitionStore keeps them (a Map from a 16-byte
 * key to `{ value: Uint8Array, version, expiresAt }`, the value a `.slice()` copy), comparing
 * `process.memoryUsage()` after `gc()` before and after: about 290 heap bytes per entry
 * beyond the value bytes for small values (16 and 64 bytes, which V8 keeps on the heap), and
 * about 275 heap bytes plus the off-heap backing store for larger ones. Of that, the Map slot
 * and its share of the hash table are about 25 bytes, the entry object about 30 to 60, and
 * the Uint8Array with its own ArrayBuffer about 150 to 180: one value per buffer is the
 * expensive part. Add the key string's header (about 16 to 24 bytes) and the backing store's
 * bookkeeping off the heap, and 320 is an honest round figure. It errs high, so the limit is
 * reached a little before the heap is really that full, never after. (Values up to 16 KiB now
 * live in slots of the node's ValueArena, value-arena.ts: a view of about 70 heap bytes
 * instead of a buffer of their own, and up to 12.5% of the value lost to slot rounding, so
 * the figure errs higher still for them; it is kept, not re-measured.)
 */
export const entryOverheadBytes = 320;

/** The cost of one entry, in the units of MemoryBudget. */
export function entryCostBytes(keyBytes: number, valueBytes: number): number {
  return keyBytes + valueBytes + entryOverheadBytes;
}

export class MemoryBudget {
  /** Bytes the partitions of a node may hold; Infinity means no limit. */
  readonly limitBytes: number;
  private used = 0;

  constructor(limitBytes: number = Infinity) {
    if (!(limitBytes === Infinity || (Number.isSafeInteger(limitBytes) && limitBytes >= 0))) {
      throw new RangeError(
        `limitBytes must be a non-negative integer or Infinity (no limit), got ${String(limitBytes)}`,
      );
    }
    this.limitBytes = limitBytes;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** Whether a change of `deltaBytes` is allowed: shrinking always is. */
  fits(deltaBytes: number): boolean {
    return deltaBytes <= 0 || this.used + deltaBytes <= this.limitBytes;
  }

  /** Records a change of `deltaBytes` without asking (the caller asked `fits` if it may refuse). */
  charge(deltaBytes: number): void {
    this.used += deltaBytes;
    assert(this.used >= 0, 'memory budget: more bytes released than were charged');
  }
}
