/**
 * The vocabulary of Raft: entries, persisted state, snapshots, the messages peers exchange
 * and the Ready batch the runtime drains. Everything here is plain data, so the runtime can
 * encode it however it likes (protocol/) and the simulator can copy it freely.
 *
 * The payload of a normal entry is generic: the control plane puts its commands in, the
 * tests put strings in. Raft never looks inside it.
 */

export type NodeId = string;

/**
 * Who takes part. Voters elect leaders and count toward every quorum; learners receive the
 * log but never vote, never count and never campaign (DESIGN.md section 5: the nodes beyond
 * the few voters follow the control-plane log as learners). Both lists are sorted and
 * disjoint.
 */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One single-server change (Raft thesis section 4.1). Changing one server at a time keeps
 * every majority of the old configuration overlapping every majority of the new one, which
 * is what lets the new configuration take effect as soon as it is appended.
 */
export type ConfigChange =
  /** A new server joins as a voter at once. Prefer addLearner, then promoteLearner. */
  | { readonly type: 'addVoter'; readonly node: NodeId }
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'promoteLearner'; readonly node: NodeId }
  /** Removes a voter or a learner; removing the leader makes it step down once committed. */
  | { readonly type: 'removeNode'; readonly node: NodeId };

interface EntryBase {
  readonly index: number;
  readonly term: number;
}

/** An application command. */
export interface NormalEntry<T> extends EntryBase {
  readonly kind: 'normal';
  readonly data: T;
}

/**
 * A membership change. It carries the whole resulting membership, not only the change, so a
 * server that joins with an empty log learns the full configuration from the first config
 * entry it receives, and the configuration at any index is simply the last such entry.
 */
export interface ConfigEntry extends EntryBase {
  readonly kind: 'config';
  readonly change: ConfigChange;
  readonly membership: Membership;
}

/**
 * The empty entry a new leader appends so that something of its own term gets committed:
 * only then may it commit older entries, serve reads, or change the membership (section 5.4.2
 * of the Raft paper, section 6.4 and the single-server-change fix of the thesis). The
 * application skips it when applying.
 */
export interface NoopEntry extends EntryBase {
  readonly kind: 'noop';
}

export type Entry<T> = NormalEntry<T> | ConfigEntry | NoopEntry;

/** What must reach stable storage before a node acts on it (Figure 2 of the Raft paper). */
export interface HardState {
  readonly term: number;
  /** The candidate this node voted for in `term`, or null. */
  readonly vote: NodeId | null;
  /** Highest index known committed. Not required by the paper; it saves re-learning it. */
  readonly commit: number;
}

export interface SnapshotMeta {
  /** The last index the snapshot covers. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  /** The membership in effect at `index`. */
  readonly membership: Membership;
}

/** The application's state at `meta.index`, in bytes Raft does not interpret. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state the runtime may show or route by; it is never persisted. */
export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/** A linearizable read the application may now serve: `index` is applied locally. */
export interface ReadState {
  readonly requestId: string;
  readonly index: number;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; for a granted pre-vote (request or answer), the term it would use. */
  readonly term: number;
}

/** Thesis section 9.6: "would you vote for me in term + 1?", without raising any term. */
export interface PreVoteMessage extends MessageBase {
  readonly type: 'preVote';
  readonly lastIndex: number;
  readonly lastTerm: number;
}

export interface PreVoteRespMessage extends MessageBase {
  readonly type: 'preVoteResp';
  readonly reject: boolean;
}

export interface VoteMessage extends MessageBase {
  readonly type: 'vote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Set when the leader asked for this election (TimeoutNow): voters skip their lease. */
  readonly transfer: boolean;
}

export interface VoteRespMessage extends MessageBase {
  readonly type: 'voteResp';
  readonly reject: boolean;
}

export interface AppendMessage<T> extends MessageBase {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry<T>[];
  readonly commit: number;
}

/**
 * On success `index` is the last index the follower now holds in agreement with the leader.
 * On reject `index` is the prevIndex that did not match, and `hintIndex`/`hintTerm` name the
 * last entry of the follower's log whose term is at most the rejected prevTerm: the leader
 * skips a whole term of mismatches per round trip instead of one index.
 */
export interface AppendRespMessage extends MessageBase {
  readonly type: 'appendResp';
  readonly reject: boolean;
  readonly index: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/**
 * Keeps followers from campaigning and carries the commit index. `context` is the leader's
 * read sequence at sending time; the echo confirms leadership for reads up to it.
 */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: number;
  readonly context: number;
  /**
   * The leader's grant (0: none): the newest of the receiver's heartbeat answers that a
   * quorum round started after its arrival confirmed. Every later leader was elected after
   * that answer was sent, which is what the leader grant (control-plane.ts) rests on.
   */
  readonly granted: number;
}

export interface HeartbeatRespMessage extends MessageBase {
  readonly type: 'heartbeatResp';
  readonly context: number;
}

/** InstallSnapshot (section 7 of the Raft paper), sent whole: snapshots here are small. */
export interface SnapshotMessage extends MessageBase {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

/** A follower asks the leader for a read index on behalf of its application. */
export interface ReadIndexMessage extends MessageBase {
  readonly type: 'readIndex';
  readonly requestId: string;
}

export interface ReadIndexRespMessage extends MessageBase {
  readonly type: 'readIndexResp';
  readonly requestId: string;
  readonly index: number;
}

/** Leadership transfer (thesis section 3.10): "campaign now, the voters will not wait". */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeoutNow';
}

export type Message<T> =
  | PreVoteMessage
  | PreVoteRespMessage
  | VoteMessage
  | VoteRespMessage
  | AppendMessage<T>
  | AppendRespMessage
  | HeartbeatMessage
  | HeartbeatRespMessage
  | SnapshotMessage
  | ReadIndexMessage
  | ReadIndexRespMessage
  | TimeoutNowMessage;

export type MessageType = Message<unknown>['type'];

/**
 * One batch of work for the runtime. Handle it in this order, then call `advance()`:
 *
 * 1. Persist, atomically or in this order: `snapshotToPersist` (then discard persisted entries
 *    at or below its index), then discard persisted entries at or after `truncateFrom`, then
 *    append `entriesToPersist` (an entry at an index already stored replaces it and every
 *    entry after it; it then has the same term, so this only rewrites what is there), then
 *    `hardState`.
 * 2. Only then send `messages`. A vote or an acknowledgement promises that the state behind
 *    it survives a crash; sending first would break that promise.
 * 3. Load `snapshotToApply` into the state machine if present, then apply `committedEntries`
 *    in order (skipping `noop` entries; `config` entries have already taken effect in Raft).
 * 4. Answer `readStates`: each one's index is at most the last index applied in step 3.
 *
 * `step()` and `tick()` may be called while a Ready is being handled; their effects go into
 * the next Ready. `ready()` may not be called again before `advance()`.
 */
export interface Ready<T> {
  readonly softState: SoftState;
  /** Present when term, vote or commit changed since the last Ready. */
  readonly hardState?: HardState;
  /** A snapshot to store: from `compact()`, or received from the leader. */
  readonly snapshotToPersist?: Snapshot;
  /** Present when the snapshot came from the leader: the state machine must load it. */
  readonly snapshotToApply?: Snapshot;
  /** Persisted entries at or after this index are no longer in the log and must go. */
  readonly truncateFrom?: number;
  /** Entries to append to stable storage, contiguous and ascending. */
  readonly entriesToPersist: readonly Entry<T>[];
  readonly messages: readonly Message<T>[];
  readonly committedEntries: readonly Entry<T>[];
  readonly readStates: readonly ReadState[];
}

/** What a restarting node reads back from stable storage: everything Readies persisted. */
export interface PersistedState<T> {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry<T>[];
}

export type ProposeResult =
  | { readonly ok: true; readonly index: number }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leaderHint: NodeId | null }
  /** A leadership transfer is under way; retry on the new leader. */
  | { readonly ok: false; readonly reason: 'transferring' }
  /** Too many entries are appended but not committed: the followers are not keeping up. */
  | { readonly ok: false; readonly reason: 'overloaded' };

export type ConfigChangeResult =
  | ProposeResult
  /** An earlier change is not committed yet: one change at a time. */
  | { readonly ok: false; readonly reason: 'change-in-progress' }
  /** A new leader has not committed an entry of its own term yet; retry shortly. */
  | { readonly ok: false; readonly reason: 'not-ready' }
  /**
   * The learner to promote has not answered this leader's appends lately (not this term, or
   * not within the last election timeout, or it is being probed or sent a snapshot): as a
   * voter it could cost the quorum (Raft takes a membership on append), so it must first
   * show that it keeps up.
   */
  | { readonly ok: false; readonly reason: 'learner-behind' }
  | { readonly ok: false; readonly reason: 'invalid-change'; readonly detail: string };

export type ReadIndexResult =
  /** The read is under way; its ReadState arrives in a later Ready, or never if leadership is lost. */
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leaderHint: NodeId | null }
  | { readonly ok: false; readonly reason: 'overloaded' };

/** A read-only view of a node, for tests, status pages and the simulator's checkers. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly membership: Membership;
  /**
   * Leader: the newest heartbeat round (its `context`) a quorum of voters answered at this
   * term, this leader counted; 0 for none and on a non-leader.
   */
  readonly confirmedRound: number;
}
