/**
 * Raft's safety properties (Figure 3 of the paper), checked from the outside on every step
 * of a simulated cluster. The checker sees only what a runtime sees (Readies, status, the
 * log through `entryAt`), so a bug anywhere in the node shows up here as a broken property,
 * named, with the evidence.
 *
 * - Election Safety: at most one leader per term, ever.
 * - Log Matching: an (index, term) pair always names one entry with one predecessor term,
 *   and any two logs that share an (index, term) agree on everything before it.
 * - Leader Completeness: an entry known committed while some node was in term k is in the
 *   log of every leader of a term above k.
 * - State Machine Safety: every node applies, at each index, the one committed entry.
 * - Committed entries never change, and a node's commit index never goes backwards.
 * - Reads: a read index covers every index committed anywhere when the read was issued.
 */
import type { Entry, NodeId, RaftNode, ReadState } from '../../../src/raft/index.js';

export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
  constructor(
    readonly property: string,
    detail: string,
  ) {
    super(`${property} violated: ${detail}`);
  }
}

export function entryKey(e: Entry<unknown>): string {
  switch (e.kind) {
    case 'normal':
      return `normal/${e.term}/${String(e.data)}`;
    case 'config':
      return `config/${e.term}/${JSON.stringify(e.membership)}`;
    case 'noop':
      return `noop/${e.term}`;
  }
}

interface CommittedRecord {
  readonly key: string;
  /** The lowest term of a node that knew this entry committed: an upper bound of its commit term. */
  knownTerm: number;
}

export interface CheckedNode {
  readonly id: NodeId;
  readonly raft: RaftNode<string> | null;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly committed = new Map<number, CommittedRecord>();
  private readonly identity = new Map<string, { key: string; prevTerm: number | undefined }>();
  /** Commit index per node incarnation (reset on restart). */
  private readonly lastCommit = new Map<NodeId, number>();
  private readonly readFloor = new Map<string, number>();
  private maxCommitSeen = 0;

  /** Largest commit index any node has reached: no read issued now may return less. */
  get maxCommit(): number {
    return this.maxCommitSeen;
  }

  get committedCount(): number {
    return this.committed.size;
  }

  onRestart(id: NodeId): void {
    this.lastCommit.delete(id);
  }

  /** Log Matching, incrementally: every entry any node stores passes through here. */
  onPersist(id: NodeId, entries: readonly Entry<string>[], raft: RaftNode<string>): void {
    for (const e of entries) {
      const key = entryKey(e);
      const prevTerm = raft.termAt(e.index - 1);
      const slot = `${e.index}/${e.term}`;
      const seen = this.identity.get(slot);
      if (seen === undefined) {
        this.identity.set(slot, { key, prevTerm });
        continue;
      }
      if (seen.key !== key) {
        throw new SafetyViolation(
          'Log Matching',
          `${id} stores ${key} at index ${e.index} term ${e.term}, another node stored ${seen.key}`,
        );
      }
      if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
        throw new SafetyViolation(
          'Log Matching',
          `${id}: entry ${e.index}/${e.term} follows term ${prevTerm}, elsewhere term ${seen.prevTerm}`,
        );
      }
    }
  }

  /** State Machine Safety: the entry applied at an index is the one committed there. */
  onApply(id: NodeId, e: Entry<string>, nodeTerm: number): void {
    this.recordCommitted(id, e.index, entryKey(e), nodeTerm);
  }

  /** A snapshot loaded into a state machine must hold the committed entries it covers. */
  onSnapshotLoaded(id: NodeId, applied: readonly { index: number; data: string }[]): void {
    for (const a of applied) {
      const rec = this.committed.get(a.index);
      if (rec !== undefined && !rec.key.startsWith('normal/')) {
        throw new SafetyViolation(
          'State Machine Safety',
          `${id} loaded a snapshot with a command at ${a.index}, committed there: ${rec.key}`,
        );
      }
      if (rec !== undefined && !rec.key.endsWith(`/${a.data}`)) {
        throw new SafetyViolation(
          'State Machine Safety',
          `${id} loaded a snapshot with ${a.data} at ${a.index}, committed there: ${rec.key}`,
        );
      }
    }
  }

  onReadIssued(requestId: string, floor: number): void {
    this.readFloor.set(requestId, floor);
  }

  onReadState(id: NodeId, rs: ReadState, appliedIndex: number): void {
    if (rs.index > appliedIndex) {
      throw new SafetyViolation(
        'Linearizable reads',
        `${id} released read ${rs.requestId} at ${rs.index} before applying it (applied ${appliedIndex})`,
      );
    }
    const floor = this.readFloor.get(rs.requestId);
    if (floor !== undefined && rs.index < floor) {
      throw new SafetyViolation(
        'Linearizable reads',
        `read ${rs.requestId} served at index ${rs.index}, but ${floor} was committed when it was issued`,
      );
    }
  }

  /** Run after every step: the properties that depend on the nodes' current state. */
  checkStep(nodes: Iterable<CheckedNode>): void {
    const live: RaftNode<string>[] = [];
    for (const n of nodes) if (n.raft !== null) live.push(n.raft);

    for (const raft of live) {
      const s = raft.status();
      // Commit never goes backwards within an incarnation; what it covers is committed.
      const before = this.lastCommit.get(s.id) ?? s.firstIndex - 1;
      if (s.commit < before) {
        throw new SafetyViolation(
          'Committed entries never change',
          `${s.id} commit index went back from ${before} to ${s.commit}`,
        );
      }
      for (let i = Math.max(before + 1, s.firstIndex); i <= s.commit; i++) {
        const e = raft.entryAt(i);
        if (e === undefined) {
          throw new SafetyViolation('Log Matching', `${s.id} committed ${i} but does not hold it`);
        }
        this.recordCommitted(s.id, i, entryKey(e), s.term);
      }
      this.lastCommit.set(s.id, s.commit);
      this.maxCommitSeen = Math.max(this.maxCommitSeen, s.commit);

      if (s.role === 'leader') {
        const other = this.leaderOfTerm.get(s.term);
        if (other !== undefined && other !== s.id) {
          throw new SafetyViolation(
            'Election Safety',
            `${other} and ${s.id} were both leader in term ${s.term}`,
          );
        }
        this.leaderOfTerm.set(s.term, s.id);
        if (s.membership.learners.includes(s.id)) {
          throw new SafetyViolation('Learners never lead', `${s.id} leads term ${s.term}`);
        }
        this.checkLeaderCompleteness(raft, s.term, s.firstIndex);
      }
    }

    for (let a = 0; a < live.length; a++) {
      for (let b = a + 1; b < live.length; b++) {
        const x = live[a];
        const y = live[b];
        if (x !== undefined && y !== undefined) checkLogsMatch(x, y);
      }
    }
  }

  private checkLeaderCompleteness(raft: RaftNode<string>, term: number, firstIndex: number): void {
    for (const [index, rec] of this.committed) {
      if (rec.knownTerm >= term || index < firstIndex) continue;
      const e = raft.entryAt(index);
      if (e === undefined || entryKey(e) !== rec.key) {
        throw new SafetyViolation(
          'Leader Completeness',
          `leader ${raft.id} of term ${term} holds ${e === undefined ? 'nothing' : entryKey(e)} ` +
            `at ${index}, where ${rec.key} was committed by term ${rec.knownTerm}`,
        );
      }
    }
  }

  private recordCommitted(id: NodeId, index: number, key: string, term: number): void {
    const rec = this.committed.get(index);
    if (rec === undefined) {
      this.committed.set(index, { key, knownTerm: term });
      return;
    }
    if (rec.key !== key) {
      throw new SafetyViolation(
        'State Machine Safety',
        `${id} has ${key} committed at ${index}, but ${rec.key} was committed there before`,
      );
    }
    rec.knownTerm = Math.min(rec.knownTerm, term);
  }
}

/** Log Matching, directly: below the highest index where two logs share a term, they agree. */
export function checkLogsMatch(x: RaftNode<string>, y: RaftNode<string>): void {
  const sx = x.status();
  const sy = y.status();
  const lo = Math.max(sx.firstIndex, sy.firstIndex);
  let hi = Math.min(sx.lastIndex, sy.lastIndex);
  while (hi >= lo && x.termAt(hi) !== y.termAt(hi)) hi--;
  for (let i = lo; i <= hi; i++) {
    const ex = x.entryAt(i);
    const ey = y.entryAt(i);
    if (ex === undefined || ey === undefined || entryKey(ex) !== entryKey(ey)) {
      throw new SafetyViolation(
        'Log Matching',
        `${sx.id} and ${sy.id} agree at ${hi} (term ${String(x.termAt(hi))}) but differ at ${i}`,
      );
    }
  }
}
