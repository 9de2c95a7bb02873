/**
 * What a leader knows about one follower's log, and how hard it may push.
 *
 * A follower is in one of three states (the names are etcd's):
 * - probe: the leader does not know where the logs agree. It sends one append at a time and
 *   waits for the answer (or the next heartbeat answer) before sending another, backing off
 *   by the follower's hint on every reject.
 * - replicate: the logs agree up to `match`. The leader streams appends optimistically,
 *   advancing `next` as it sends, with at most `maxInflight` appends unanswered so a slow
 *   follower cannot make the leader queue without bound.
 * - snapshot: the entries the follower needs are compacted away; a snapshot is on its way.
 *   Nothing else is sent until the follower acknowledges it, or until a timeout says the
 *   snapshot was probably lost and probing starts over.
 */
import { assert } from '../core/assert.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match = 0;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an append is unanswered, send no other until an answer or a heartbeat. */
  probeSent = false;
  /** Replicate state: the last index of each unanswered append, ascending. */
  private readonly inflight: number[] = [];
  /** Snapshot state: the index of the snapshot sent, and ticks spent waiting for it. */
  pendingSnapshot = 0;
  snapshotTicks = 0;
  /** Heard from within the current election timeout; check-quorum counts these. */
  recentActive = false;

  constructor(
    next: number,
    private readonly maxInflight: number,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    // After a snapshot the follower most likely holds it: probe just past it.
    this.next =
      this.state === 'snapshot'
        ? Math.max(this.match + 1, this.pendingSnapshot + 1)
        : this.match + 1;
    this.state = 'probe';
    this.resetState();
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.state = 'replicate';
    this.resetState();
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.resetState();
    this.pendingSnapshot = index;
  }

  private resetState(): void {
    this.probeSent = false;
    this.inflight.length = 0;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
  }

  /** An acknowledgement up to `index`; false when it tells nothing new. */
  maybeUpdate(index: number): boolean {
    this.freeTo(index);
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * A reject of the append whose prevIndex was `rejected`; `probeTo` is where the leader
   * thinks the logs may agree. False when the reject is stale (an answer to an append from
   * before the last change of direction), which must not move `next` backwards again.
   */
  maybeDecrTo(rejected: number, probeTo: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probeTo + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append just sent in replicate state, ending at `lastIndex`. */
  sentEntries(lastIndex: number): void {
    assert(this.state === 'replicate', () => `sentEntries in state ${this.state}`);
    this.next = lastIndex + 1;
    this.inflight.push(lastIndex);
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  inflightFull(): boolean {
    return this.inflight.length >= this.maxInflight;
  }

  /** Forgets the oldest unanswered append: it was probably lost (heartbeats still arrive). */
  freeFirstInflight(): void {
    this.inflight.shift();
  }

  private freeTo(index: number): void {
    let n = 0;
    while (n < this.inflight.length && (this.inflight[n] ?? 0) <= index) n++;
    if (n > 0) this.inflight.splice(0, n);
  }
}
