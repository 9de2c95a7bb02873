/**
 * The leader grant: how long this node may act as a primary without the control-plane
 * leader's word, and how long an `accept-loss` must wait so that no lost primary can still
 * be serving (docs/design-notes.md, *The accept-loss fence*).
 *
 * Peer leases (replication/leases.ts) keep a deposed primary from serving once its in-sync
 * copies stop vouching for it. They cannot stop a primary that is its partition's only
 * in-sync copy, or whose in-sync copies were cut off on the same side with it: nobody on the
 * majority side could promote a copy of it, so it serves on. When the operator then runs
 * `accept-loss` on the majority, the partition would have two primaries. The leader grant
 * closes that gap for nodes that run fenced (`DataPlaneOptions.fenced`).
 *
 * Why it holds under pauses: every Raft heartbeat round has a sequence, and a member's
 * answer echoes it. The leader flags an answer as granted only once a quorum answered a
 * round that started after the answer arrived (RaftNode, `granted`). Any later leader needed
 * a vote from that quorum, cast after it answered that round, so every later leader was
 * elected after the member sent its answer. The member holds the grant until its answer's
 * send time plus `leaseMs`, on its own clock. So once a new leader has led for `leaseMs`
 * (times the drift factor), no grant from an earlier leader is still running. A leader that
 * slept (SIGSTOP, a long GC) and wakes believing it leads cannot confirm a round at its old
 * term any more, so it grants nothing new; bounds on the grantor's own time would not survive
 * such a pause, which is why the grant is anchored at the member's send time.
 *
 * The leader's own grant runs from the send time of its newest confirmed round, by the same
 * argument; a lone voter grants itself, as no other leader can exist.
 *
 * Pure: the control plane feeds it what it sends and receives and its clock's readings.
 */
import type { NodeId } from '../raft/index.js';

/** Clock rates of two nodes may differ by this factor (as in replication/leases.ts). */
const clockDriftFactor = 1.2;

/**
 * A grant's length. Long against an election after the leader's failure (an election
 * timeout or two, 0.5-1 s by default), so that losing the leader never stops a primary;
 * short against what an operator waits for `accept-loss`.
 */
export const leaderGrantMsDefault = 2_000;

/** Answers remembered per leader and term: a few rounds' worth, the grant lags one or two. */
const answersKept = 64;

export class LeaderGrant {
  private heldUntilValue = -Infinity;
  /** Follower: the leader and term its remembered answers went to, and when each was sent. */
  private answeredLeader: NodeId | null = null;
  private answeredTerm = -1;
  private readonly answerSentAt = new Map<number, number>();
  /** Leader: the term of its rounds, and when each was sent. */
  private roundsTerm = -1;
  private readonly roundSentAt = new Map<number, number>();
  /** Leader: since when (this node's clock), and when it last granted each member. */
  private ledSince: number | null = null;
  private readonly grantedAt = new Map<NodeId, number>();

  constructor(readonly leaseMs: number = leaderGrantMsDefault) {}

  /** How long a grant may outlast its end on another node's clock: the length with drift. */
  get waitMs(): number {
    return Math.ceil(this.leaseMs * clockDriftFactor);
  }

  /** The end of the grant this node holds, on its clock; -Infinity for none. */
  get heldUntil(): number {
    return this.heldUntilValue;
  }

  /** This node sent a heartbeat answer to `leader`. */
  answerSent(leader: NodeId, term: number, round: number, now: number): void {
    if (leader !== this.answeredLeader || term !== this.answeredTerm) {
      this.answeredLeader = leader;
      this.answeredTerm = term;
      this.answerSentAt.clear();
    }
    noteFirst(this.answerSentAt, round, now);
  }

  /** A heartbeat from `leader` granted this node's answer to `round` (0: none). */
  heartbeatReceived(leader: NodeId, term: number, round: number): void {
    if (round === 0 || leader !== this.answeredLeader || term !== this.answeredTerm) return;
    const sentAt = this.answerSentAt.get(round);
    if (sentAt !== undefined) this.extend(sentAt + this.leaseMs);
  }

  /** This node, leading at `term`, sent (the first message of) heartbeat round `round`. */
  roundSent(term: number, round: number, now: number): void {
    if (term !== this.roundsTerm) {
      this.roundsTerm = term;
      this.roundSentAt.clear();
    }
    noteFirst(this.roundSentAt, round, now);
  }

  /**
   * Where this node stands: leading at `term` with `confirmedRound` its newest round a quorum
   * answered, or leading alone (no other voter), or not leading.
   */
  leadership(
    lead: { term: number; confirmedRound: number; alone: boolean } | null,
    now: number,
  ): void {
    if (lead === null) {
      this.ledSince = null;
      return;
    }
    this.ledSince ??= now;
    if (lead.alone) {
      this.extend(now + this.leaseMs);
      return;
    }
    if (lead.term !== this.roundsTerm) return;
    const sentAt = this.roundSentAt.get(lead.confirmedRound);
    if (sentAt !== undefined) this.extend(sentAt + this.leaseMs);
  }

  /** This node, as leader, sent `member` a heartbeat flagging a grant. */
  grantSent(member: NodeId, now: number): void {
    this.grantedAt.set(member, now);
  }

  /**
   * When, on this node's clock, no grant to any of `members` can still be running, nor any
   * grant an earlier leader gave: null when this node does not lead.
   */
  grantsOverAt(members: Iterable<NodeId>): number | null {
    if (this.ledSince === null) return null;
    let last = this.ledSince;
    for (const m of members) last = Math.max(last, this.grantedAt.get(m) ?? -Infinity);
    return last + this.waitMs;
  }

  private extend(until: number): void {
    if (until > this.heldUntilValue) this.heldUntilValue = until;
  }
}

/**
 * Notes when `round` was first sent (a resend keeps the earlier time, the shorter grant),
 * keeping only the newest `answersKept` rounds.
 */
function noteFirst(sentAt: Map<number, number>, round: number, now: number): void {
  if (sentAt.has(round)) return;
  sentAt.set(round, now);
  if (sentAt.size > answersKept) sentAt.delete(sentAt.keys().next().value as number);
}
