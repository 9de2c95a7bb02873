/**
 * Raft consensus, as a pure state machine.
 *
 * Background
 * ----------
 * The control plane (DESIGN.md section 5) must agree on who the members are and which node
 * is primary for which partition, even while nodes crash and the network loses, repeats and
 * reorders messages. Raft (Ongaro and Ousterhout, "In Search of an Understandable Consensus
 * Algorithm", and Ongaro's thesis) gets a few servers to agree on one ordered log of
 * commands: once an entry is committed it stays, at its index, in every future leader's log,
 * so every server applies the same commands in the same order.
 *
 * This module decides and nothing else. Its inputs are `tick()` (the runtime's clock, in
 * ticks), `step(message)` (a message from a peer), and the application's requests
 * (`propose`, `proposeConfigChange`, `readIndex`, `compact`). Its outputs wait in a `Ready`:
 * state to persist, messages to send, committed entries to apply, reads to answer. The
 * runtime drains it and calls `advance()`. There are no timers, no clock, no sockets, no
 * disk, and randomness comes from the `Random` it is given, so a seed replays a whole
 * cluster exactly (the shape is etcd-io/raft's `raft.go` and `rawnode.go`).
 *
 * The steps
 * ---------
 * 1. Every node starts as a follower. A follower that hears nothing from a leader for its
 *    randomized election timeout first asks the voters "would you vote for me in term + 1?"
 *    (pre-vote, thesis 9.6). Only if a majority would, does it raise its term, vote for
 *    itself and ask for real votes (section 5.2). A voter grants at most one vote per term,
 *    and only to a candidate whose log is at least as up-to-date as its own (5.4.1).
 * 2. A candidate with votes from a majority of voters becomes leader and appends an empty
 *    entry of its own term, so that something of its term gets committed soon (5.4.2).
 * 3. The leader appends proposals to its log and sends them to every member in append
 *    messages that name the entry before them (prevIndex, prevTerm). A follower accepts only
 *    if it holds that entry; otherwise it rejects with a hint and the leader backs up a term
 *    at a time (5.3). Per follower, the leader probes one append at a time until the logs
 *    agree, then streams with a bounded number in flight (progress.ts).
 * 4. An entry is committed when a majority of voters hold it and it is of the leader's
 *    current term; earlier entries are committed with it, never by counting alone (Figure 8
 *    of the paper). The commit index travels in appends and heartbeats; every node hands its
 *    committed entries to the application in order.
 * 5. Reads (thesis 6.4): the leader records its commit index, confirms it is still leader by
 *    a round of heartbeats acknowledged by a majority, and then reports the read as
 *    servable once that index is applied. A follower asks the leader for the index.
 * 6. Membership changes one server at a time (thesis 4.1). The change is a log entry that
 *    takes effect on each server as soon as it is appended. A leader accepts a change only
 *    after it committed an entry of its own term and only when no earlier change is
 *    uncommitted. A leader that removed itself steps down once the change is committed and
 *    tells the most up-to-date voter to campaign at once (TimeoutNow, thesis 3.10). A voter
 *    that an uncommitted change removes may still campaign (thesis 4.2.2): it may hold the
 *    only copy of that change, and the others may need its vote to move on. The simulation
 *    found that deadlock before this rule was added.
 * 7. Compaction (section 7): the application hands in a snapshot of its state at an applied
 *    index; the entries it covers are dropped. A follower that needs dropped entries gets
 *    the snapshot instead.
 *
 * Why it is safe
 * --------------
 * - Election Safety, at most one leader per term: each voter grants one vote per term, and
 *   the vote reaches disk before the answer leaves (the Ready order), so a crash and a
 *   restart cannot make it vote twice. Two majorities of one membership always share a voter.
 * - Log Matching: an append is accepted only after its (prevIndex, prevTerm) matched, and a
 *   leader never rewrites its own log, so equal index and term mean equal prefixes.
 * - Leader Completeness: an entry is committed only when a majority holds it, and a
 *   candidate needs a vote from a majority, each of which refuses a less up-to-date log. The
 *   rule of step 4 closes the gap of Figure 8, where an old-term entry on a majority could
 *   still be overwritten.
 * - State Machine Safety follows: every node applies the committed prefix, which never
 *   changes. A conflicting append can only replace entries above the commit index, and the
 *   log asserts so.
 * - Membership: any majority of the membership before a single-server change overlaps any
 *   majority of the one after it, so two leaders cannot be elected in one term by the two.
 *   Committing an entry of the leader's own term first closes the hole Ongaro found in the
 *   single-server algorithm (raft-dev, 2015): a leader cannot base a change on a
 *   configuration that a concurrent, uncommitted change of an older term invalidated.
 * - Pre-vote, the election lease (a voter that heard from a leader within the minimum
 *   election timeout ignores vote requests, thesis 4.2.3) and check-quorum (a leader that
 *   has not heard from a majority within an election timeout steps down, thesis 6.2) only
 *   decide when elections happen. They protect liveness and keep an isolated or removed
 *   node from disrupting a healthy cluster; none of the safety arguments depend on them.
 * - Reads: the read index is a commit index of a leader that has committed in its term, so
 *   it covers every write acknowledged before the read began; the heartbeat round proves no
 *   newer leader had been elected when the read began.
 *
 * Where rules bend, and why it is still safe
 * ------------------------------------------
 * - The leader counts its own new entries toward the commit index before they reach disk.
 *   The messages that carry them to followers leave only after the Ready that persists them,
 *   so no follower can acknowledge an entry the leader has not stored, and anything the
 *   leader commits it has stored by the time the commit becomes visible to anyone.
 * - Committed entries may be handed out in the same Ready that persists them; the Ready
 *   order (persist, send, apply) keeps "stored before applied".
 * - The commit index is persisted (HardState.commit) so that a restart re-applies what was
 *   committed without waiting for a leader; it is never ahead of the persisted log.
 * - A read held by a leader that loses leadership is dropped silently: it never becomes
 *   servable, and the caller times out and retries. That errs toward unavailability.
 */
import { assert } from '../core/assert.js';
import type { Random } from '../core/random.js';
import { RaftLog } from './log.js';
import { applyChange, isVoter, members } from './membership.js';
import { resolveOptions, type RaftOptions, type ResolvedOptions } from './options.js';
import { Progress } from './progress.js';
import { hasMajority, majorityIndex, voteOutcome } from './quorum.js';
import type {
  AppendMessage,
  AppendRespMessage,
  ConfigChange,
  ConfigChangeResult,
  Entry,
  HardState,
  HeartbeatMessage,
  HeartbeatRespMessage,
  Message,
  NodeId,
  PreVoteMessage,
  ProposeResult,
  RaftStatus,
  ReadIndexResult,
  ReadState,
  Ready,
  Role,
  SnapshotMessage,
  SoftState,
  VoteMessage,
} from './types.js';

interface ReadRequest {
  readonly requestId: string;
  /** Who answers the client: this node, or the follower that forwarded the request. */
  readonly from: NodeId;
}

interface PendingRead extends ReadRequest {
  /** The commit index when the read began: the read sees every write committed by then. */
  readonly index: number;
  /** Heartbeats carrying this sequence or later confirm it when a majority echoes them. */
  readonly seq: number;
}

interface Outstanding {
  /** Last entry handed out for persisting, and its term then (0 when none). */
  readonly persistIndex: number;
  readonly persistTerm: number;
  /** Last index the application will have applied when it has handled the Ready. */
  readonly appliedThrough: number;
}

export type TransferResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leaderHint: NodeId | null }
  | { readonly ok: false; readonly reason: 'invalid-target'; readonly detail: string };

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Ungranted heartbeat answers a leader keeps per member (see answersToGrant). */
const answersToGrantMax = 8;

export class RaftNode<T> {
  readonly id: NodeId;
  private readonly opts: ResolvedOptions;
  private readonly random: Random;
  private readonly log: RaftLog<T>;

  private term: number;
  private vote: NodeId | null;
  private role: Role = 'follower';
  private leader: NodeId | null = null;

  /** Ticks since the last reset: since hearing from the leader, or since becoming leader. */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  /** (Pre-)candidate: the answers so far, this node's own included. */
  private readonly votes = new Map<NodeId, boolean>();
  /** Leader: one Progress per member other than itself. */
  private readonly progress = new Map<NodeId, Progress>();
  /** Leader: index of the no-op that opened its term; committed means "settled in". */
  private termStartIndex = 0;
  private leadTransferee: NodeId | null = null;

  /** Leader: sequence of read confirmations, echoed back in heartbeat answers. */
  private readSeq = 0;
  private readonly readAcks = new Map<NodeId, number>();
  /** Leader: the newest round a quorum of voters answered (see RaftStatus.confirmedRound). */
  private confirmedRound = 0;
  /**
   * Leader: per member, its heartbeat answers not granted yet, as [the round answered, the
   * newest round sent when the answer arrived], oldest first. An answer is granted once a
   * round after the second number is confirmed: that round started after the answer arrived.
   */
  private readonly answersToGrant = new Map<NodeId, [number, number][]>();
  /** Leader: per member, the newest of its answers granted, carried by every heartbeat. */
  private readonly granted = new Map<NodeId, number>();
  private pendingReads: PendingRead[] = [];
  /** Leader: reads that arrived before its no-op was committed (see step 5). */
  private readsAwaitingTermCommit: ReadRequest[] = [];
  /** Confirmed reads, released in a Ready once their index is applied. */
  private confirmedReads: ReadState[] = [];

  private messages: Message<T>[] = [];
  private applied: number;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: Outstanding | null = null;

  constructor(options: RaftOptions<T>) {
    this.opts = resolveOptions(options);
    this.id = this.opts.id;
    this.random = options.random;
    const restore = options.restore;
    this.log = new RaftLog<T>(
      this.opts.initialMembership,
      restore?.snapshot ?? null,
      restore?.entries ?? [],
      restore?.hardState.commit ?? 0,
    );
    this.term = restore?.hardState.term ?? 0;
    this.vote = restore?.hardState.vote ?? null;
    this.applied = options.applied ?? this.log.snapshotIndex;
    assert(
      this.applied >= this.log.snapshotIndex && this.applied <= this.log.committed,
      () =>
        `applied (${this.applied}) must lie between the snapshot index ` +
        `(${this.log.snapshotIndex}) and the commit index (${this.log.committed})`,
    );
    this.becomeFollower(this.term, null);
    this.prevHardState = this.hardState();
    this.prevSoftState = this.softState();
  }

  // ---------------------------------------------------------------------------------------
  // Inputs

  /** Advances logical time by one tick: elections, heartbeats and check-quorum run on it. */
  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Starts an election now (pre-vote first when enabled). Does nothing on a leader or a non-voter. */
  campaign(): void {
    this.hup(false);
  }

  /**
   * Stops following `leader`, which the runtime knows is gone (its process refuses
   * connections). Without this, every follower defends the dead leader's election lease for
   * a whole timeout, refusing pre-votes, and only then draws its random wait: a leader's
   * death cost up to two election timeouts before anyone could lead. A follower that forgot
   * its leader grants pre-votes at once and campaigns after only the random part of its
   * timeout, so the voters that forgot still rarely campaign together (etcd's ForgetLeader
   * does the first half). Only liveness depends on the runtime being right: a leader that is
   * in fact alive wins the follower back with its next heartbeat, and the other voters still
   * refuse a pre-vote while they hear it.
   */
  forgetLeader(leader: NodeId): void {
    if (this.role !== 'follower' || this.leader !== leader) return;
    this.leader = null;
    this.electionElapsed = Math.max(this.electionElapsed, this.opts.electionTimeoutTicks);
  }

  /**
   * Handles one message from a peer. Messages that are stale, misaddressed or make no sense
   * in the current role are dropped: the network may deliver anything, late or twice.
   */
  step(m: Message<T>): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === 'preVote' || m.type === 'vote') {
        const forced = m.type === 'vote' && m.transfer;
        // The lease (thesis 4.2.3): a leader we heard from within the minimum election
        // timeout is alive, so a candidate that would raise the term is a disruption.
        const inLease =
          this.opts.checkQuorum &&
          this.leader !== null &&
          this.electionElapsed < this.opts.electionTimeoutTicks;
        if (inLease && !forced) return;
      }
      if (m.type === 'preVote') {
        // A pre-vote raises no term, not even the receiver's.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // A granted pre-vote carries the term the candidate would use, not a newer term.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      if (
        (this.opts.checkQuorum || this.opts.preVote) &&
        (m.type === 'append' || m.type === 'heartbeat')
      ) {
        // A stale leader. With pre-vote or check-quorum, nodes that moved to a higher term
        // while it was cut off no longer win elections against it on term alone, so tell it
        // the new term and let it step down; silence would leave it leading forever.
        this.send({
          ...this.base(m.from),
          type: 'appendResp',
          reject: false,
          index: 0,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (m.type === 'preVote') {
        // Tell the pre-candidate our term so it does not wait for a timeout to learn it.
        this.send({ ...this.base(m.from), type: 'preVoteResp', reject: true });
      }
      return;
    }

    if (m.type === 'preVote' || m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  /** Appends `data` if this node leads; the entry is committed later, or lost with leadership. */
  propose(data: T): ProposeResult {
    const refused = this.refuseProposal();
    if (refused !== null) return refused;
    const index = this.log.lastIndex() + 1;
    this.appendAsLeader({ index, term: this.term, kind: 'normal', data });
    return { ok: true, index };
  }

  /** Proposes one membership change; it takes effect on each node when appended there. */
  proposeConfigChange(change: ConfigChange): ConfigChangeResult {
    const refused = this.refuseProposal();
    if (refused !== null) return refused;
    if (this.log.committed < this.termStartIndex) return { ok: false, reason: 'not-ready' };
    if (this.log.lastConfigIndex > this.log.committed) {
      return { ok: false, reason: 'change-in-progress' };
    }
    const next = applyChange(this.log.membership, change);
    if (typeof next === 'string') return { ok: false, reason: 'invalid-change', detail: next };
    if (change.type === 'promoteLearner' && !this.keepsUp(change.node)) {
      return { ok: false, reason: 'learner-behind' };
    }
    const index = this.log.lastIndex() + 1;
    this.appendAsLeader({ index, term: this.term, kind: 'config', change, membership: next });
    return { ok: true, index };
  }

  /**
   * On a leader, whether `id` answers it: it has acknowledged the first entry of this term, its
   * appends stream (no probe, no snapshot), and it answered within the last election
   * timeout. A voter that does not would count toward the quorum while adding nothing to it
   * (chaos seed 1873535010: a leader promoted a learner beyond a network cut and lost the
   * quorum it had). Not "has every committed entry": under steady proposals the commit runs
   * ahead of a learner's last answer as often as not, and the promotion would starve.
   */
  keepsUp(id: NodeId): boolean {
    const pr = this.progress.get(id);
    return (
      pr !== undefined &&
      pr.recentActive &&
      pr.state === 'replicate' &&
      pr.match >= this.termStartIndex
    );
  }

  /**
   * Starts a linearizable read. Its ReadState comes in a later Ready once leadership is
   * confirmed and the read index is applied here; it never comes if leadership is lost.
   */
  readIndex(requestId: string): ReadIndexResult {
    if (this.role === 'leader') {
      return this.acceptRead({ requestId, from: this.id })
        ? { ok: true }
        : { ok: false, reason: 'overloaded' };
    }
    if (this.role === 'follower' && this.leader !== null) {
      this.send({ ...this.base(this.leader), type: 'readIndex', requestId });
      return { ok: true };
    }
    return { ok: false, reason: 'not-leader', leaderHint: this.leader };
  }

  /**
   * Hands leadership to `to` (thesis 3.10): once its log is current, it is told to campaign
   * at once. Proposals are refused meanwhile; the attempt ends after an election timeout.
   */
  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leaderHint: this.leader };
    if (to === this.id) return { ok: false, reason: 'invalid-target', detail: 'already leader' };
    const pr = this.progress.get(to);
    if (pr === undefined || !isVoter(this.log.membership, to)) {
      return { ok: false, reason: 'invalid-target', detail: `${to} is not a voter` };
    }
    this.leadTransferee = to;
    // The transfer gets one election timeout to finish.
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return { ok: true };
  }

  /**
   * The application's snapshot of its state at `index`, which it has applied; the entries
   * it covers leave the log. The snapshot is handed back in the next Ready to persist.
   */
  compact(index: number, data: Uint8Array): void {
    assert(
      index <= this.applied,
      () =>
        `compact(${index}) beyond the applied index ${this.applied}: snapshot applied state only`,
    );
    if (index <= this.log.snapshotIndex) return;
    this.log.compact(index, data);
  }

  // ---------------------------------------------------------------------------------------
  // Outputs

  /** True when `ready()` has something to hand out (and no Ready is outstanding). */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const servable = Math.max(this.applied, this.log.committed);
    return (
      this.messages.length > 0 ||
      this.log.hasPersistWork() ||
      this.log.committed > this.applied ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !this.sameSoftState(this.softState(), this.prevSoftState) ||
      this.confirmedReads.some((r) => r.index <= servable)
    );
  }

  /** Takes the pending work; see `Ready` for the order in which to handle it. */
  ready(): Ready<T> {
    assert(
      this.outstanding === null,
      'ready() called again before advance(): handle the Ready, then call advance()',
    );
    const work = this.log.takePersistWork();
    const entriesToPersist = this.log.unpersisted();
    const hardState = this.hardState();
    const hardChanged = !sameHardState(hardState, this.prevHardState);
    this.prevHardState = hardState;
    const softState = this.softState();
    this.prevSoftState = softState;

    let appliedFrom = this.applied;
    if (work.snapshotToApply !== null) {
      appliedFrom = Math.max(appliedFrom, work.snapshotToApply.meta.index);
    }
    const committedEntries = this.log.slice(appliedFrom + 1, this.log.committed);
    const appliedThrough = Math.max(appliedFrom, this.log.committed);
    const readStates = this.confirmedReads.filter((r) => r.index <= appliedThrough);
    this.confirmedReads = this.confirmedReads.filter((r) => r.index > appliedThrough);
    const messages = this.messages;
    this.messages = [];

    const last = entriesToPersist[entriesToPersist.length - 1];
    this.outstanding = {
      persistIndex: last?.index ?? 0,
      persistTerm: last?.term ?? 0,
      appliedThrough,
    };
    return {
      softState,
      ...(hardChanged ? { hardState } : {}),
      ...(work.snapshotToPersist !== null ? { snapshotToPersist: work.snapshotToPersist } : {}),
      ...(work.snapshotToApply !== null ? { snapshotToApply: work.snapshotToApply } : {}),
      ...(work.truncateFrom !== null ? { truncateFrom: work.truncateFrom } : {}),
      entriesToPersist,
      messages,
      committedEntries,
      readStates,
    };
  }

  /** The last Ready was handled: its entries are stored and its committed entries applied. */
  advance(): void {
    const o = this.outstanding;
    assert(o !== null, 'advance() without an outstanding Ready: call ready() first');
    if (o.persistIndex > 0) this.log.persistedTo(o.persistIndex, o.persistTerm);
    this.applied = Math.max(this.applied, o.appliedThrough);
    this.outstanding = null;
  }

  /** Leader: how far `id`'s log is known to match this one; 0 on a non-leader or a stranger. */
  matchOf(id: NodeId): number {
    return this.role === 'leader' ? (this.progress.get(id)?.match ?? 0) : 0;
  }

  status(): RaftStatus {
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.applied,
      role: this.role,
      leader: this.leader,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      membership: this.log.membership,
      confirmedRound: this.confirmedRound,
    };
  }

  /** The entry at `index` in this node's log (persisted or not), if held. */
  entryAt(index: number): Entry<T> | undefined {
    return this.log.entry(index);
  }

  /** The term of the entry at `index`, if held or the snapshot's last. */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  // ---------------------------------------------------------------------------------------
  // Roles

  private reset(term: number): void {
    assert(term >= this.term, () => `term moves backwards: ${this.term} -> ${term}`);
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetElectionTimeout();
    this.votes.clear();
    this.progress.clear();
    this.termStartIndex = 0;
    this.leadTransferee = null;
    this.readSeq = 0;
    this.readAcks.clear();
    this.confirmedRound = 0;
    this.answersToGrant.clear();
    this.granted.clear();
    this.pendingReads = [];
    this.readsAwaitingTermCommit = [];
  }

  private resetElectionTimeout(): void {
    // [timeout, 2 * timeout): spread wide enough that one node usually campaigns alone.
    const t = this.opts.electionTimeoutTicks;
    this.randomizedElectionTimeout = t + this.random.int(t);
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // Term and vote stay: a pre-vote must leave no trace if it fails.
    this.votes.clear();
    this.role = 'preCandidate';
    this.leader = null;
    this.electionElapsed = 0;
    this.resetElectionTimeout();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', () => `only a candidate becomes leader, not a ${this.role}`);
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.syncProgress(false);
    const index = this.log.lastIndex() + 1;
    this.termStartIndex = index;
    this.log.append([{ index, term: this.term, kind: 'noop' }]);
    if (this.maybeCommit()) this.afterLeaderCommit();
    this.bcastAppend();
  }

  /**
   * May this node campaign? A voter of its latest membership may. So may a voter that the
   * latest membership removes while that change is uncommitted (thesis 4.2.2): until it
   * commits, the cluster may still need this node, for instance when it holds the only copy
   * of the change and the remaining voter needs its vote under the old membership. Its own
   * vote does not count then (votes are tallied over the latest membership's voters).
   */
  private promotable(): boolean {
    if (isVoter(this.log.membership, this.id)) return true;
    return (
      this.log.lastConfigIndex > this.log.committed &&
      isVoter(this.log.membershipBeforeLastConfig(), this.id)
    );
  }

  // ---------------------------------------------------------------------------------------
  // Elections

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.opts.preVote && !transfer) this.campaignPre();
    else this.campaignReal(transfer);
  }

  private campaignPre(): void {
    this.becomePreCandidate();
    for (const v of this.log.membership.voters) {
      if (v === this.id) continue;
      this.send({
        ...this.base(v, this.term + 1),
        type: 'preVote',
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
      });
    }
    this.pollVote(this.id, true);
  }

  private campaignReal(transfer: boolean): void {
    this.becomeCandidate();
    for (const v of this.log.membership.voters) {
      if (v === this.id) continue;
      this.send({
        ...this.base(v),
        type: 'vote',
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer,
      });
    }
    this.pollVote(this.id, true);
  }

  private pollVote(from: NodeId, granted: boolean): void {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const outcome = voteOutcome(this.log.membership.voters, this.votes);
    if (outcome === 'won') {
      if (this.role === 'preCandidate') this.campaignReal(false);
      else this.becomeLeader();
    } else if (outcome === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  private handleVoteRequest(m: PreVoteMessage | VoteMessage): void {
    const pre = m.type === 'preVote';
    // A pre-vote for a future term is granted on the log alone: the real vote, if it comes,
    // is the one that counts against this term's single vote.
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (pre && m.term > this.term);
    const grant = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (!grant) {
      if (pre) this.send({ ...this.base(m.from), type: 'preVoteResp', reject: true });
      else this.send({ ...this.base(m.from), type: 'voteResp', reject: true });
      return;
    }
    if (pre) {
      this.send({ ...this.base(m.from, m.term), type: 'preVoteResp', reject: false });
      return;
    }
    // Granting a vote is hearing from a would-be leader: do not compete with it at once.
    this.electionElapsed = 0;
    this.vote = m.from;
    this.send({ ...this.base(m.from), type: 'voteResp', reject: false });
  }

  private stepCandidate(m: Message<T>): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Someone won this term.
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResp':
        if (this.role !== 'preCandidate') return;
        if (m.reject ? m.term === this.term : m.term === this.term + 1) {
          this.pollVote(m.from, !m.reject);
        }
        return;
      case 'voteResp':
        if (this.role === 'candidate' && m.term === this.term) this.pollVote(m.from, !m.reject);
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Follower

  private stepFollower(m: Message<T>): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        return;
      case 'readIndexResp':
        if (this.confirmedReads.length < this.opts.maxPendingReads) {
          this.confirmedReads.push({ requestId: m.requestId, index: m.index });
        }
        return;
      case 'timeoutNow':
        this.hup(true);
        return;
      default:
        return;
    }
  }

  private handleAppend(m: AppendMessage<T>): void {
    if (m.prevIndex < this.log.committed) {
      // Everything up to our commit index is settled; tell the leader where we are.
      this.sendAppendResp(m.from, this.log.committed);
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.sendAppendResp(m.from, lastNew);
      return;
    }
    const hintIndex = this.log.findConflictByTerm(
      Math.min(m.prevIndex, this.log.lastIndex()),
      m.prevTerm,
    );
    this.send({
      ...this.base(m.from),
      type: 'appendResp',
      reject: true,
      index: m.prevIndex,
      hintIndex,
      hintTerm: this.log.term(hintIndex) ?? 0,
    });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    // The leader sends min(our match, its commit), so this never passes what we hold in
    // agreement with it; the clamp only guards against a log that lost persisted entries.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ ...this.base(m.from), type: 'heartbeatResp', context: m.context });
  }

  private handleSnapshot(m: SnapshotMessage): void {
    if (this.log.restore(m.snapshot)) this.sendAppendResp(m.from, this.log.lastIndex());
    else this.sendAppendResp(m.from, this.log.committed);
  }

  private sendAppendResp(to: NodeId, index: number): void {
    this.send({
      ...this.base(to),
      type: 'appendResp',
      reject: false,
      index,
      hintIndex: 0,
      hintTerm: 0,
    });
  }

  // ---------------------------------------------------------------------------------------
  // Leader

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.opts.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.opts.checkQuorum) {
        const active = hasMajority(
          this.log.membership.voters,
          (id) => id === this.id || this.progress.get(id)?.recentActive === true,
        );
        for (const pr of this.progress.values()) pr.recentActive = false;
        if (!active) {
          this.becomeFollower(this.term, null);
          return;
        }
      }
      // A transfer that did not finish within an election timeout has failed.
      this.leadTransferee = null;
    }
    for (const [id, pr] of this.progress) {
      // No answer to a snapshot for an election timeout: it was probably lost. Probe again;
      // the follower's answer says whether it needs another.
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= this.opts.electionTimeoutTicks) {
        pr.becomeProbe();
        this.sendAppend(id, true);
      }
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private stepLeader(m: Message<T>): void {
    switch (m.type) {
      case 'appendResp': {
        const pr = this.progress.get(m.from);
        if (pr !== undefined) this.handleAppendResp(m, pr);
        return;
      }
      case 'heartbeatResp': {
        const pr = this.progress.get(m.from);
        if (pr !== undefined) this.handleHeartbeatResp(m, pr);
        return;
      }
      case 'readIndex':
        if (this.progress.has(m.from)) this.acceptRead({ requestId: m.requestId, from: m.from });
        return;
      default:
        return;
    }
  }

  private handleAppendResp(m: AppendRespMessage, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      // The follower's hint names its last entry with a term at most the rejected one; the
      // last entry of ours at or below it with a term at most its term is where we may agree.
      const probeTo =
        m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm) : m.hintIndex;
      if (pr.maybeDecrTo(m.index, probeTo)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    // An acknowledgement of entries we never had cannot come from this term's appends.
    if (m.index > this.log.lastIndex()) return;
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
    if (this.maybeCommit()) {
      this.bcastAppend();
      this.afterLeaderCommit();
      if (this.role !== 'leader') return;
    } else if (wasPaused) {
      // The follower heard nothing while paused, maybe not even the commit index: tell it,
      // with an empty append if there is nothing new.
      this.sendAppend(m.from, true);
    }
    // Fill the window: a follower catching up gets as much as flow control allows.
    while (this.sendAppend(m.from, false)) {
      // sendAppend does the work; it returns false once paused or caught up.
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResp(m: HeartbeatRespMessage, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // Heartbeats get through but appends are not answered: assume the oldest append lost,
    // or the window would stay full forever.
    if (pr.state === 'replicate' && pr.inflightFull()) pr.freeFirstInflight();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
    if (m.context === 0) return;
    if (isVoter(this.log.membership, m.from)) {
      this.readAcks.set(m.from, Math.max(this.readAcks.get(m.from) ?? 0, m.context));
      this.advanceConfirmedRound();
      this.advanceReads();
    }
    // Learners hold primaries too: their answers are granted like a voter's.
    let answers = this.answersToGrant.get(m.from);
    if (answers === undefined) this.answersToGrant.set(m.from, (answers = []));
    answers.push([m.context, this.readSeq]);
    // A member that answers every round while rounds are never confirmed (no quorum) keeps
    // only its newest answers: an older one could only be granted after the newer ones.
    if (answers.length > answersToGrantMax) answers.shift();
    this.grantConfirmed(m.from, answers);
  }

  /** The newest round a quorum of voters (this leader among them) has answered. */
  private advanceConfirmedRound(): void {
    const voters = this.log.membership.voters;
    // The k-th highest ack among voters, k a majority, is the newest round a quorum answered.
    const acks = voters.map((id) => (id === this.id ? this.readSeq : (this.readAcks.get(id) ?? 0)));
    acks.sort((a, b) => b - a);
    const round = acks[Math.floor(voters.length / 2)] ?? 0;
    if (round <= this.confirmedRound) return;
    this.confirmedRound = round;
    for (const [id, answers] of this.answersToGrant) this.grantConfirmed(id, answers);
  }

  private grantConfirmed(id: NodeId, answers: [number, number][]): void {
    let newest = 0;
    while (answers.length > 0 && answers[0]![1] < this.confirmedRound) newest = answers.shift()![0];
    if (newest > (this.granted.get(id) ?? 0)) this.granted.set(id, newest);
  }

  private refuseProposal(): ProposeResult | null {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leaderHint: this.leader };
    if (this.leadTransferee !== null) return { ok: false, reason: 'transferring' };
    if (this.log.lastIndex() - this.log.committed >= this.opts.maxUncommittedEntries) {
      return { ok: false, reason: 'overloaded' };
    }
    return null;
  }

  private appendAsLeader(entry: Entry<T>): void {
    this.log.append([entry]);
    if (entry.kind === 'config') this.syncProgress(true);
    if (this.maybeCommit()) this.afterLeaderCommit();
    if (this.role === 'leader') this.bcastAppend();
  }

  /** Progress follows the membership in the leader's log: add the new, forget the removed. */
  private syncProgress(activeAtStart: boolean): void {
    const wanted = new Set(members(this.log.membership).filter((id) => id !== this.id));
    for (const id of [...this.progress.keys()]) {
      if (!wanted.has(id)) {
        this.progress.delete(id);
        this.readAcks.delete(id);
        this.answersToGrant.delete(id);
        this.granted.delete(id);
      }
    }
    for (const id of wanted) {
      if (this.progress.has(id)) continue;
      const pr = new Progress(this.log.lastIndex() + 1, this.opts.maxInflightAppends);
      // A server added mid-term gets one election timeout of grace before check-quorum
      // counts it as silent.
      pr.recentActive = activeAtStart;
      this.progress.set(id, pr);
    }
  }

  /** Section 5.4.2: commit what a majority holds, but only by counting an own-term entry. */
  private maybeCommit(): boolean {
    const index = majorityIndex(this.log.membership.voters, (id) =>
      id === this.id ? this.log.lastIndex() : (this.progress.get(id)?.match ?? 0),
    );
    if (index <= this.log.committed || this.log.term(index) !== this.term) return false;
    this.log.commitTo(index);
    return true;
  }

  private afterLeaderCommit(): void {
    if (this.log.committed >= this.termStartIndex && this.readsAwaitingTermCommit.length > 0) {
      const waiting = this.readsAwaitingTermCommit;
      this.readsAwaitingTermCommit = [];
      for (const r of waiting) this.confirmRead(r);
    }
    if (!isVoter(this.log.membership, this.id) && this.log.committed >= this.log.lastConfigIndex) {
      this.stepDownRemoved();
    }
  }

  /**
   * Thesis 4.2.2: a leader that removed itself leads until the change is committed, then
   * steps down. It asks the most up-to-date voter to campaign right away, so the cluster
   * does not sit out an election timeout.
   */
  private stepDownRemoved(): void {
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const v of this.log.membership.voters) {
      const match = this.progress.get(v)?.match ?? 0;
      if (match > bestMatch) {
        best = v;
        bestMatch = match;
      }
    }
    if (best !== null && bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
    this.becomeFollower(this.term, null);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ ...this.base(to), type: 'timeoutNow' });
  }

  /** Sends the next append (or the snapshot) to `to`; false when flow control forbids it. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    assert(
      prevIndex <= this.log.lastIndex(),
      () => `next ${pr.next} of ${to} is beyond lastIndex ${this.log.lastIndex()} + 1`,
    );
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) return this.sendSnapshot(to, pr);
    const last = Math.min(this.log.lastIndex(), prevIndex + this.opts.maxEntriesPerAppend);
    const entries = this.log.slice(prevIndex + 1, last);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      ...this.base(to),
      type: 'append',
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.committed,
    });
    if (pr.state === 'replicate' && entries.length > 0) pr.sentEntries(last);
    else if (pr.state === 'probe') pr.probeSent = true;
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snapshot = this.log.latestSnapshot();
    assert(snapshot !== null, () => `entries for ${to} are compacted but no snapshot is held`);
    this.send({ ...this.base(to), type: 'snapshot', snapshot });
    pr.becomeSnapshot(snapshot.meta.index);
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) this.sendAppend(id, true);
  }

  private bcastHeartbeat(): void {
    // Every round gets a sequence of its own: the leader grant needs rounds that started
    // after an answer arrived, reads only rounds that started after they did.
    this.readSeq++;
    if (hasMajority(this.log.membership.voters, (id) => id === this.id)) {
      this.confirmedRound = this.readSeq;
    }
    for (const [id, pr] of this.progress) {
      this.send({
        ...this.base(id),
        type: 'heartbeat',
        // Never past what the follower holds in agreement with us: beyond `match` its
        // entries may still be a deposed leader's.
        commit: Math.min(pr.match, this.log.committed),
        context: this.readSeq,
        granted: this.granted.get(id) ?? 0,
      });
    }
  }

  // ---------------------------------------------------------------------------------------
  // Reads

  private acceptRead(r: ReadRequest): boolean {
    const held = this.pendingReads.length + this.readsAwaitingTermCommit.length;
    if (held >= this.opts.maxPendingReads) return false;
    // Until its no-op commits, a new leader's commit index may lag the previous leader's,
    // so a read index taken now could miss acknowledged writes (thesis 6.4, step 1).
    if (this.log.committed < this.termStartIndex) this.readsAwaitingTermCommit.push(r);
    else this.confirmRead(r);
    return true;
  }

  private confirmRead(r: ReadRequest): void {
    const index = this.log.committed;
    if (hasMajority(this.log.membership.voters, (id) => id === this.id)) {
      // A single voter is its own majority: no other leader can exist.
      this.resolveRead({ ...r, index, seq: 0 });
      return;
    }
    this.readSeq++;
    this.pendingReads.push({ ...r, index, seq: this.readSeq });
    this.bcastHeartbeat();
  }

  private advanceReads(): void {
    const voters = this.log.membership.voters;
    while (this.pendingReads.length > 0) {
      const r = this.pendingReads[0];
      if (r === undefined) break;
      const confirmed = hasMajority(
        voters,
        (id) => id === this.id || (this.readAcks.get(id) ?? 0) >= r.seq,
      );
      if (!confirmed) break;
      this.pendingReads.shift();
      this.resolveRead(r);
    }
  }

  private resolveRead(r: PendingRead): void {
    if (r.from === this.id) {
      this.confirmedReads.push({ requestId: r.requestId, index: r.index });
    } else {
      this.send({
        ...this.base(r.from),
        type: 'readIndexResp',
        requestId: r.requestId,
        index: r.index,
      });
    }
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  private base(to: NodeId, term = this.term): { from: NodeId; to: NodeId; term: number } {
    return { from: this.id, to, term };
  }

  private send(m: Message<T>): void {
    this.messages.push(m);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  private sameSoftState(a: SoftState, b: SoftState): boolean {
    return a.leader === b.leader && a.role === b.role;
  }
}
