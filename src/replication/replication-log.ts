/**
 * The two small records a replica keeps beside its store so that the replication stream can
 * be resumed and checked: a bounded backlog of recent mutations, and the history of which
 * epoch wrote which sequence numbers.
 *
 * The backlog (Redis's replication backlog, Kafka's log tail) is what lets a primary resend
 * a lost append, and lets a backup that was a few writes behind, or a backup promoted to
 * primary, bring the others up to date without a full state transfer. It is bounded by count
 * and bytes; a peer that needs something older gets a snapshot instead.
 *
 * A state transfer needs the backlog to reach back to its snapshot's seq S+1 when it ends,
 * however many writes arrived while it ran; otherwise a transfer under steady load finds the
 * stream gone and starts over, forever. So `push` takes a `keepFrom` seq: mutations from
 * there on are kept past the usual bounds, up to a second, hard pair of bounds
 * (`heldCountMax`, `heldBytesMax`). Beyond those the oldest go anyway and that transfer
 * starts over: memory stays bounded, and a backup that cannot keep up with the writes is the
 * one to pay.
 *
 * The epoch history is Kafka's leader-epoch cache (KIP-101), and it is what makes resuming
 * safe after a failover. Sequence numbers alone cannot tell whether two replicas agree: the
 * old primary may have sent seq 11 to one backup before it died, and the new primary, which
 * never got it, assigns 11 to a different write. But one epoch has one primary, and a
 * primary numbers each seq once, so two replicas whose seq s was written in the same epoch
 * hold the same mutation at s; since both took their streams in order from the primaries of
 * their epochs, they hold the same prefix up to s (Raft's Log Matching property, for the
 * same reason). The history is a list of `{ epoch, startSeq }`: seqs from `startSeq` up to
 * the next start were written in `epoch`.
 */
import { assert } from '../core/assert.js';
import type { Mutation } from '../store/index.js';

export interface EpochStart {
  readonly epoch: number;
  /** The first seq written in this epoch. */
  readonly startSeq: number;
}

/** "Unknown": a seq older than the history remembers; it never matches anything. */
export const unknownEpoch = -1;

/** The epoch that wrote `seq` according to `history`; 0 for seq 0 (the empty prefix). */
export function epochAt(history: readonly EpochStart[], seq: number): number {
  if (seq === 0) return 0;
  for (let i = history.length - 1; i >= 0; i--) {
    const h = history[i] as EpochStart;
    if (h.startSeq <= seq) return h.epoch;
  }
  return unknownEpoch;
}

/** Whether two replicas that wrote `seq` in these epochs hold the same prefix up to it. */
export function sameWriter(a: number, b: number): boolean {
  return a === b && a !== unknownEpoch;
}

/**
 * Epoch changes are rare (a failover, a move); 64 remembered ones reach back far beyond any
 * backup that could still be resumed from the backlog. Forgetting the oldest only makes an
 * old seq "unknown", which costs a state transfer, never a wrong answer.
 */
const epochHistoryMax = 64;

export class EpochHistory {
  private list: EpochStart[] = [];

  get entries(): readonly EpochStart[] {
    return this.list;
  }

  epochAt(seq: number): number {
    return epochAt(this.list, seq);
  }

  /** This replica starts writing (as primary) in `epoch` from `startSeq`. */
  begin(epoch: number, startSeq: number): void {
    this.record(epoch, startSeq);
  }

  /** A backup applied seqs from..to, written in the epochs `source` gives for them. */
  extend(source: readonly EpochStart[], from: number, to: number): void {
    for (let i = 0; i < source.length; i++) {
      const h = source[i] as EpochStart;
      const end = i + 1 < source.length ? (source[i + 1] as EpochStart).startSeq - 1 : to;
      if (end < from || h.startSeq > to) continue;
      this.record(h.epoch, Math.max(h.startSeq, from));
    }
  }

  /** The segments that cover seqs from..to, for an append message. */
  slice(from: number, to: number): EpochStart[] {
    const out: EpochStart[] = [];
    for (let i = 0; i < this.list.length; i++) {
      const h = this.list[i] as EpochStart;
      const next = this.list[i + 1];
      const end = next === undefined ? Infinity : next.startSeq - 1;
      if (end < from || h.startSeq > to) continue;
      out.push(h);
    }
    return out;
  }

  /** After a state transfer: the primary's history up to the snapshot's seq. */
  replace(source: readonly EpochStart[], upTo: number): void {
    this.list = source.filter((h) => h.startSeq <= upTo).slice(-epochHistoryMax);
  }

  private record(epoch: number, startSeq: number): void {
    const last = this.list[this.list.length - 1];
    if (last !== undefined && last.epoch === epoch) return;
    assert(
      last === undefined || last.startSeq <= startSeq,
      () => `epoch history: epoch ${epoch} starts at ${startSeq}, before ${last?.startSeq}`,
    );
    // An epoch that wrote nothing is replaced by the next one starting at the same seq.
    if (last !== undefined && last.startSeq === startSeq) this.list.pop();
    this.list.push({ epoch, startSeq });
    if (this.list.length > epochHistoryMax) this.list.shift();
  }
}

/** Bytes a mutation is counted as in the backlog: its key and value plus a fixed overhead. */
export function mutationBytes(m: Mutation): number {
  // 64 bytes covers the object, its seq and expiry numbers; keys counted as up to 3 bytes
  // per UTF-16 unit without encoding them.
  const key = m.kind === 'result' ? 0 : m.key.length * 3;
  return 64 + key + (m.kind === 'put' ? m.value.byteLength : 0);
}

export class MutationLog {
  /** Slots before `head` are emptied as they are forgotten, so their values can be collected. */
  private items: (Mutation | undefined)[] = [];
  private head = 0;
  private bytes = 0;
  /** The seq of the oldest mutation held, or the next seq to come when empty. */
  private start: number;

  /**
   * `countMax` and `bytesMax` bound what is kept for resends and lagging peers;
   * `heldCountMax` and `heldBytesMax` (at least as large) bound what is kept for `keepFrom`.
   */
  constructor(
    nextSeq: number,
    private readonly countMax: number,
    private readonly bytesMax: number,
    private readonly heldCountMax: number = countMax,
    private readonly heldBytesMax: number = bytesMax,
  ) {
    assert(
      heldCountMax >= countMax && heldBytesMax >= bytesMax,
      () =>
        `mutation log: held bounds (${heldCountMax}, ${heldBytesMax} bytes) below the ` +
        `usual ones (${countMax}, ${bytesMax} bytes)`,
    );
    this.start = nextSeq;
  }

  /** Approximate bytes held, as counted against the bounds. */
  get byteCount(): number {
    return this.bytes;
  }

  get startSeq(): number {
    return this.start;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Forgets everything; the next mutation will be `nextSeq`. */
  reset(nextSeq: number): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.start = nextSeq;
  }

  /**
   * Appends mutations, then forgets the oldest beyond the bounds, except that mutations from
   * `keepFrom` on (a seq some peer still needs) are kept while the log is within the held
   * bounds; past them, or once keepFrom is gone, the usual bounds apply. Infinity, the
   * default, keeps nothing extra.
   */
  push(mutations: readonly Mutation[], keepFrom = Infinity): void {
    for (const m of mutations) {
      assert(
        m.seq === this.start + this.length,
        () => `mutation log: seq ${m.seq} pushed after ${this.start + this.length - 1}`,
      );
      this.items.push(m);
      this.bytes += mutationBytes(m);
    }
    // A keepFrom already gone holds nothing: its peer needs a new transfer anyway.
    let hold = keepFrom >= this.start ? keepFrom : Infinity;
    while (this.length > 0 && (this.length > this.countMax || this.bytes > this.bytesMax)) {
      if (this.start >= hold) {
        if (this.length <= this.heldCountMax && this.bytes <= this.heldBytesMax) break;
        // Past the hard bound: give the hold up whole, back to the usual bounds at once,
        // rather than keep a tail that no longer reaches back to keepFrom.
        hold = Infinity;
      }
      this.dropOldest();
    }
    this.compact();
  }

  /** Forgets the oldest mutation, releasing its value. */
  private dropOldest(): void {
    this.bytes -= mutationBytes(this.items[this.head] as Mutation);
    this.items[this.head] = undefined;
    this.head++;
    this.start++;
  }

  /** Compacts once the dead head is the larger half: amortised O(1) per mutation. */
  private compact(): void {
    if (this.head > 1_024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Keeps at most the newest `count` mutations and about `bytes` bytes of them. */
  keepNewest(count: number, bytes: number): void {
    while (this.length > 0 && (this.length > count || this.bytes > bytes)) this.dropOldest();
    this.compact();
  }

  /** Forgets the mutations below `seq`: every peer holds them already. */
  trimBefore(seq: number): void {
    while (this.length > 0 && this.start < seq) this.dropOldest();
    if (this.length === 0 && this.start < seq) this.start = seq;
    this.compact();
  }

  /** Whether the log still holds `seq` (or it is the next one to come). */
  holds(seq: number): boolean {
    return seq >= this.start;
  }

  /**
   * Mutations from `from` on, at most `countMax` and about `bytesMax` bytes (at least one,
   * so a single large value still travels). A slice never ends just before a `result`: a
   * write's remembered result follows its change directly, and a backup holding the change
   * without the result would, once promoted, apply the client's retry of it a second time.
   * So a slice may go one mutation over its bounds.
   */
  slice(from: number, countMax: number, bytesMax: number): Mutation[] {
    assert(from >= this.start, () => `mutation log: ${from} is older than ${this.start}`);
    const out: Mutation[] = [];
    let bytes = 0;
    for (let i = this.head + (from - this.start); i < this.items.length; i++) {
      const m = this.items[i] as Mutation;
      const b = mutationBytes(m);
      if (out.length > 0 && (out.length >= countMax || bytes + b > bytesMax)) {
        if (m.kind === 'result' && out[out.length - 1]!.kind !== 'result') out.push(m);
        break;
      }
      out.push(m);
      bytes += b;
    }
    return out;
  }
}
