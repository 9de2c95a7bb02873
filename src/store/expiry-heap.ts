/**
 * Which entries expire next, without scanning them all.
 *
 * The primary reclaims expired entries a bounded batch at a time (expirySweepEntriesMax),
 * and each batch must cost in proportion to what it reclaims, not to the size of the
 * partition. So the store keeps a binary min-heap of (expiresAt, key) nodes, ordered by time
 * and then by key, so that equal times come out in one order on every replica and every run.
 *
 * Deletion is lazy. When an entry's expiry changes (touch, a set with another TTL) or the
 * entry goes away, its old node stays in the heap; removing it from the middle would need a
 * position index per key, kept up to date on every swap, which is more memory and more work
 * on the hot path than the stale node costs. The store instead pushes a node for the new
 * expiry and, when it pops a node, checks it against the entry: a node is live only while the
 * entry exists with exactly that expiry. Stale nodes are skipped.
 *
 * Left alone, a touch-heavy workload would grow the heap by one stale node per touch. So the
 * store calls `retain` when the heap holds many more nodes than there are entries with a TTL:
 * it keeps one node per live entry and rebuilds the heap bottom-up in linear time. Because
 * it runs only after the heap has grown by at least as many nodes as it keeps, its cost
 * spreads over those pushes: push and pop stay O(log n), amortized.
 *
 * Times and keys live in two parallel arrays rather than an array of node objects, so a push
 * allocates nothing once the arrays have grown.
 */

export class ExpiryHeap {
  private times: number[] = [];
  private keys: string[] = [];

  get size(): number {
    return this.times.length;
  }

  /** The earliest expiry in the heap, live or stale; Infinity when empty. */
  peekExpiresAt(): number {
    return this.times.length === 0 ? Infinity : (this.times[0] as number);
  }

  /** The key of the earliest node; undefined when empty. */
  peekKey(): string | undefined {
    return this.keys[0];
  }

  push(expiresAt: number, key: string): void {
    this.times.push(expiresAt);
    this.keys.push(key);
    this.siftUp(this.times.length - 1);
  }

  /** Removes the earliest node. */
  pop(): void {
    const last = this.times.length - 1;
    if (last < 0) return;
    this.times[0] = this.times[last] as number;
    this.keys[0] = this.keys[last] as string;
    this.times.pop();
    this.keys.pop();
    if (last > 0) this.siftDown(0);
  }

  /**
   * Keeps only the nodes `isLive` accepts, at most one per key, and restores the heap order
   * in O(n).
   */
  retain(isLive: (expiresAt: number, key: string) => boolean): void {
    const times: number[] = [];
    const keys: string[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < this.times.length; i++) {
      const time = this.times[i] as number;
      const key = this.keys[i] as string;
      if (!seen.has(key) && isLive(time, key)) {
        seen.add(key);
        times.push(time);
        keys.push(key);
      }
    }
    this.times = times;
    this.keys = keys;
    for (let i = (times.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  clear(): void {
    this.times = [];
    this.keys = [];
  }

  private less(i: number, j: number): boolean {
    const ti = this.times[i] as number;
    const tj = this.times[j] as number;
    return ti < tj || (ti === tj && (this.keys[i] as string) < (this.keys[j] as string));
  }

  private swap(i: number, j: number): void {
    const time = this.times[i] as number;
    this.times[i] = this.times[j] as number;
    this.times[j] = time;
    const key = this.keys[i] as string;
    this.keys[i] = this.keys[j] as string;
    this.keys[j] = key;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.times.length;
    while (true) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && this.less(right, left) ? right : left;
      if (!this.less(child, i)) return;
      this.swap(i, child);
      i = child;
    }
  }
}
