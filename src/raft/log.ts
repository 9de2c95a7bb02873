/**
 * One node's Raft log: a snapshot covering a prefix, the entries after it, the commit index,
 * and the bookkeeping that tells the runtime what still has to reach stable storage.
 *
 * Indexes start at 1; the snapshot's index (0 with no snapshot) is the entry just before the
 * first one held. Its term is kept, so the entry right after a snapshot can still be matched.
 *
 * Persistence is tracked, not performed. `persistedThrough` is the last index the runtime has
 * confirmed it stored (via Ready and advance); everything after it is handed out in the next
 * Ready. When a conflicting append replaces entries, the lowest replaced index is remembered
 * as `truncateFrom`, so storage is told to drop them rather than left to infer it.
 */
import { assert } from '../core/assert.js';
import type { Entry, Membership, Snapshot, SnapshotMeta } from './types.js';

export class RaftLog<T> {
  private snapshot: Snapshot | null;
  private snapMeta: SnapshotMeta;
  private entries: Entry<T>[] = [];
  private committedIndex: number;
  private persistedThrough: number;
  private truncateFrom: number | null = null;
  private snapshotToPersist: Snapshot | null = null;
  private snapshotToApply: Snapshot | null = null;
  private currentMembership: Membership;
  private configIndex: number;

  /** A log restored from storage: `entries` follow `snapshot` (or the initial membership). */
  constructor(
    initial: Membership,
    snapshot: Snapshot | null,
    entries: readonly Entry<T>[],
    commit: number,
  ) {
    this.snapshot = snapshot;
    this.snapMeta = snapshot?.meta ?? { index: 0, term: 0, membership: initial };
    // Storage may keep a few entries the snapshot already covers; the log starts after it.
    for (const e of entries) {
      if (e.index <= this.snapMeta.index) continue;
      assert(
        e.index === this.lastIndex() + 1,
        () => `restored entries are not contiguous: ${e.index} after ${this.lastIndex()}`,
      );
      assert(
        e.term >= this.lastTerm(),
        () => `restored entry ${e.index} has term ${e.term} below ${this.lastTerm()}`,
      );
      this.entries.push(e);
    }
    assert(
      commit <= this.lastIndex(),
      () =>
        `commit ${commit} is out of range [lastIndex ${this.lastIndex()}]. ` +
        'Was the log corrupted, truncated, or lost?',
    );
    this.committedIndex = Math.max(commit, this.snapMeta.index);
    this.persistedThrough = this.lastIndex();
    this.currentMembership = this.snapMeta.membership;
    this.configIndex = 0;
    this.recomputeMembership();
  }

  get committed(): number {
    return this.committedIndex;
  }

  /** The membership in effect: the last config entry in the log, else the snapshot's. */
  get membership(): Membership {
    return this.currentMembership;
  }

  /** Index of the last config entry in the log, 0 when the snapshot's membership rules. */
  get lastConfigIndex(): number {
    return this.configIndex;
  }

  get snapshotIndex(): number {
    return this.snapMeta.index;
  }

  latestSnapshot(): Snapshot | null {
    return this.snapshot;
  }

  firstIndex(): number {
    return this.snapMeta.index + 1;
  }

  lastIndex(): number {
    return this.snapMeta.index + this.entries.length;
  }

  lastTerm(): number {
    return this.entries[this.entries.length - 1]?.term ?? this.snapMeta.term;
  }

  /** The term of the entry at `index`, or undefined when it is compacted or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapMeta.index) return this.snapMeta.term;
    return this.entry(index)?.term;
  }

  entry(index: number): Entry<T> | undefined {
    if (index <= this.snapMeta.index) return undefined;
    return this.entries[index - this.snapMeta.index - 1];
  }

  /** Entries `lo..hi` inclusive; every one of them must be held. */
  slice(lo: number, hi: number): Entry<T>[] {
    if (hi < lo) return [];
    assert(
      lo >= this.firstIndex() && hi <= this.lastIndex(),
      () => `slice [${lo}, ${hi}] out of range [${this.firstIndex()}, ${this.lastIndex()}]`,
    );
    const off = this.snapMeta.index + 1;
    return this.entries.slice(lo - off, hi - off + 1);
  }

  /** Section 5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** The leader's own appends: always at the end, never conflicting. */
  append(entries: readonly Entry<T>[]): void {
    for (const e of entries) {
      assert(
        e.index === this.lastIndex() + 1,
        () => `append of index ${e.index} after lastIndex ${this.lastIndex()}`,
      );
      this.entries.push(e);
      if (e.kind === 'config') {
        this.currentMembership = e.membership;
        this.configIndex = e.index;
      }
    }
  }

  /**
   * A follower's append (section 5.3): when our entry at prevIndex has prevTerm, drop any
   * entry that conflicts with the new ones and everything after it, append the ones we lack,
   * and commit up to min(commit, last new index). Returns that last new index, or null when
   * prevIndex does not match and the leader must back up.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    entries: readonly Entry<T>[],
  ): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    let conflict = -1;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e === undefined || !this.matchTerm(e.index, e.term)) {
        conflict = i;
        break;
      }
    }
    if (conflict >= 0) {
      const first = entries[conflict];
      assert(first !== undefined, 'conflict index inside entries');
      if (first.index <= this.lastIndex()) {
        assert(
          first.index > this.committedIndex,
          () =>
            `entry ${first.index} (term ${first.term}) conflicts with committed entry ` +
            `(committed ${this.committedIndex}): Raft safety is broken`,
        );
        this.truncateAfter(first.index - 1);
      }
      this.append(entries.slice(conflict));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /**
   * The reject hint: the last index at or below `index` whose term is at most `term`. The
   * leader's entries after it cannot match ours, so it may skip straight there.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapMeta.index) {
      const t = this.term(i);
      if (t !== undefined && t <= term) return i;
      i--;
    }
    return i;
  }

  commitTo(index: number): void {
    if (index <= this.committedIndex) return;
    assert(
      index <= this.lastIndex(),
      () =>
        `commit ${index} is out of range [lastIndex ${this.lastIndex()}]. ` +
        'Was the log corrupted, truncated, or lost?',
    );
    this.committedIndex = index;
  }

  private truncateAfter(index: number): void {
    this.entries.length = index - this.snapMeta.index;
    this.truncateFrom = Math.min(this.truncateFrom ?? Infinity, index + 1);
    this.persistedThrough = Math.min(this.persistedThrough, index);
    if (this.configIndex > index) this.recomputeMembership();
  }

  private recomputeMembership(): void {
    const found = this.lastConfigAtOrBefore(this.lastIndex());
    this.currentMembership = found?.membership ?? this.snapMeta.membership;
    this.configIndex = found?.index ?? 0;
  }

  private lastConfigAtOrBefore(index: number): { index: number; membership: Membership } | null {
    for (let i = index; i > this.snapMeta.index; i--) {
      const e = this.entry(i);
      if (e?.kind === 'config') return { index: i, membership: e.membership };
    }
    return null;
  }

  /** The membership the last config entry replaced (the snapshot's when there is none). */
  membershipBeforeLastConfig(): Membership {
    if (this.configIndex === 0) return this.snapMeta.membership;
    return this.membershipAt(this.configIndex - 1);
  }

  /** The membership in effect at `index` (which must be held or be the snapshot's). */
  membershipAt(index: number): Membership {
    return this.lastConfigAtOrBefore(index)?.membership ?? this.snapMeta.membership;
  }

  /**
   * Section 7: replace the prefix through `index` (applied by the application) by its
   * snapshot. Entries after it stay.
   */
  compact(index: number, data: Uint8Array): Snapshot {
    const term = this.term(index);
    assert(term !== undefined, () => `compact(${index}): no entry at that index`);
    assert(
      index <= this.persistedThrough,
      () => `compact(${index}) beyond the persisted log (${this.persistedThrough})`,
    );
    const snapshot: Snapshot = {
      meta: { index, term, membership: this.membershipAt(index) },
      data,
    };
    this.entries = this.entries.slice(index - this.snapMeta.index);
    this.snapMeta = snapshot.meta;
    this.snapshot = snapshot;
    this.snapshotToPersist = snapshot;
    return snapshot;
  }

  /**
   * A snapshot from the leader that is ahead of our commit index: unless we already hold its
   * last entry (then it only teaches us a commit index), it replaces the whole log.
   * Returns true when the log was replaced.
   */
  restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.meta;
    if (index <= this.committedIndex) return false;
    if (this.matchTerm(index, term)) {
      this.commitTo(index);
      return false;
    }
    this.entries = [];
    this.snapMeta = snapshot.meta;
    this.snapshot = snapshot;
    this.committedIndex = index;
    this.truncateFrom = Math.min(this.truncateFrom ?? Infinity, index + 1);
    this.persistedThrough = index;
    this.snapshotToPersist = snapshot;
    this.snapshotToApply = snapshot;
    this.currentMembership = snapshot.meta.membership;
    this.configIndex = 0;
    return true;
  }

  /** Entries not yet handed to storage. */
  unpersisted(): Entry<T>[] {
    return this.slice(this.persistedThrough + 1, this.lastIndex());
  }

  hasPersistWork(): boolean {
    return (
      this.persistedThrough < this.lastIndex() ||
      this.truncateFrom !== null ||
      this.snapshotToPersist !== null
    );
  }

  /** Hands out (and forgets) the pending truncation and snapshots, for one Ready. */
  takePersistWork(): {
    truncateFrom: number | null;
    snapshotToPersist: Snapshot | null;
    snapshotToApply: Snapshot | null;
  } {
    const work = {
      truncateFrom: this.truncateFrom,
      snapshotToPersist: this.snapshotToPersist,
      snapshotToApply: this.snapshotToApply,
    };
    this.truncateFrom = null;
    this.snapshotToPersist = null;
    this.snapshotToApply = null;
    return work;
  }

  /**
   * The runtime stored entries through `index`, which had term `term` when handed out. If the
   * entry there changed since (a conflicting append replaced it), nothing is marked: by Log
   * Matching, the same index and term mean the same entry and the same prefix.
   */
  persistedTo(index: number, term: number): void {
    if (index <= this.persistedThrough) return;
    if (this.term(index) !== term) return;
    this.persistedThrough = index;
  }
}
