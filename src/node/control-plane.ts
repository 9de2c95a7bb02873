/**
 * The control plane of one node: a Raft member that applies the cluster's log to a
 * ClusterState, and, while it leads, runs the controller that keeps the cluster healthy.
 *
 * This is the runtime's half: it owns the RaftNode, feeds it ticks and peers' messages,
 * and drains its Ready in the contract's order (persist, then send, then apply). Every
 * decision is made elsewhere, by pure code: Raft decides what is committed, the controller
 * (control/controller.ts) what to propose, placement where copies go, and ClusterState what
 * an entry means. Storage, the network, the clock and randomness come in as interfaces, so
 * the simulator can run this very class.
 *
 * The life of a node:
 * - Resume: a data dir with a persisted log restores Raft and replays the log.
 * - Bootstrap: with no seeds, the node founds a cluster: it is the only voter, elects itself,
 *   and commits the `bootstrap` entry with the cluster id and the settings.
 * - Join: with seeds, it asks them to join; a non-leader answers NOT_LEADER with the leader's
 *   address, and the leader commits a `join` entry, then (as controller) adds the node as a
 *   Raft learner, which starts the log flowing to it. The controller promotes learners to
 *   voters as the voter count wants.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, StatehouseError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { PlantedBug } from '../core/planted-bug.js';
import type { Random } from '../core/random.js';
import {
  RaftNode,
  type Membership,
  type Message,
  type MessageType,
  type PersistedState,
  type RaftStatus,
  type Ready,
} from '../raft/index.js';
import {
  ClusterState,
  acceptLossCandidate,
  acceptLossProblem,
  decide,
  heardAt,
  looksFailed,
  isClusterStateSnapshot,
  isControlCommand,
  isStuck,
  LeaderGrant,
  summarize,
  type ClusterSettings,
  type ControlCommand,
  type ControllerInput,
  type MemberRecord,
} from '../control/index.js';
import { isBadRaftMessage, parseRaftMessage } from '../protocol/index.js';
import type {
  AcceptLossResult,
  ClusterStatusView,
  DrainResult,
  JoinRequest,
  JoinResult,
} from '../protocol/index.js';
import type { PartitionReport } from '../replication/index.js';
import type { Logger } from './logger.js';

/** Where Raft's state goes before it is acted on (node/raft-storage.ts). */
export interface ControlStorage {
  load(): PersistedState<ControlCommand> | null;
  persist(ready: Ready<ControlCommand>): void;
}

/** How Raft messages leave this node (node/peer-network.ts, or the simulator's network). */
export interface ControlTransport {
  send(message: Message<ControlCommand>): void;
  learn(memberId: string, address: string): void;
  addressOf(memberId: string): string | undefined;
}

export interface ControlPlaneOptions {
  readonly self: MemberRecord;
  /** Found a new cluster when nothing was persisted. False: join through `join()`. */
  readonly bootstrap: boolean;
  readonly settings: ClusterSettings;
  readonly storage: ControlStorage;
  readonly transport: ControlTransport;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  /** Raft ticks per election timeout (heartbeats go every tick). */
  readonly electionTimeoutTicks: number;
  /** Milliseconds per tick, to turn timeouts into ticks. */
  readonly tickMs: number;
  /** A member silent this long is declared dead. */
  readonly failureTimeoutMs: number;
  /** Raft voters wanted: 1, 3 or 5. */
  readonly votersMax: number;
  /** Called after every applied change of the cluster state. */
  readonly onChange: (state: ClusterState) => void;
  /** Names a new cluster; the simulator passes a seeded one. Default: a random UUID. */
  readonly newClusterId?: () => string;
  /** Test-only (core/planted-bug.ts): a deliberate bug for the simulator to catch. */
  readonly plantedBug?: PlantedBug;
}

export type ClusterStatus = ClusterStatusView;

/** How many grant lengths accept-loss waits, at most, for lost copies that keep coming back. */
const grantWaitsMax = 3;
/** Entries applied between snapshots: the log stays small, a snapshot is cheap. */
const snapshotEveryEntries = 1_000;
/** A join waits this long for its entry to be committed before the joiner asks again. */
const joinCommitTimeoutMs = 5_000;

/**
 * Raft messages a node sends on its own, without having heard anyone: they prove it can send,
 * not that it can receive, so they do not count as a sign of life (see receive()).
 */
const unpromptedTypes: ReadonlySet<MessageType> = new Set<MessageType>([
  'preVote',
  'vote',
  'readIndex',
]);

interface JoinWaiter {
  readonly index: number;
  /** The term the entry was proposed in: another term at that index is another entry. */
  readonly term: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class ControlPlane {
  readonly state = new ClusterState();
  private readonly raft: RaftNode<ControlCommand>;
  /** When each member was last heard, on the listening clock (see listeningNow). */
  private readonly lastHeard = new Map<string, number>();
  /** Members whose address refused a connection since they were last heard (peerRefused). */
  private readonly refused = new Set<string>();
  private leaderSince = 0;
  /** Milliseconds this node's loop was blocked, which its failure detector does not count. */
  private deafMs = 0;
  private lastTickAt: number | null = null;
  /** The Raft membership last seen, to notice members entering it (see noteNewRaftMembers). */
  private raftMembership: Membership | null = null;
  private raftMembers = new Set<string>();
  /** The leader this node last followed, and the one it followed when it was elected. */
  private followed: string | null = null;
  private predecessor: string | null = null;
  private wasLeader = false;
  /** The controller waits for its last proposals to apply before deciding again. */
  private awaitingIndex = 0;
  private applied = 0;
  private snapshotIndex = 0;
  private joinWaiters: JoinWaiter[] = [];
  private processing = false;
  /** Copies their primaries reported caught up (`partition/node/epoch`), for the controller. */
  private readonly caughtUpReports = new Set<string>();
  private laggingReports: { partition: number; node: string; epoch: number }[] = [];
  /** The keys (`partition/node/epoch`) of laggingReports, to find a repeat at once. */
  private readonly laggingKeys = new Set<string>();
  private reportsVersion = 0;
  private readSeq = 0;
  private readonly readWaiters = new Map<string, { resolve: () => void; timer: NodeJS.Timeout }>();
  /** What the controller last decided on; deciding again on the same facts decides the same. */
  private lastDecidedOn = '';
  private closed = false;
  private readonly grant: LeaderGrant;
  /**
   * The index of the last accept-loss entry applied (the snapshot's index when one may hide
   * it): members whose log does not reach it are granted nothing (see send()).
   */
  private acceptLossIndex = 0;
  /** accept-loss calls waiting for the grants of lost copies to run out (see acceptLoss). */
  private grantWaiters: { at: number; resolve: () => void }[] = [];

  constructor(private readonly options: ControlPlaneOptions) {
    this.grant = new LeaderGrant();
    const restore = options.storage.load();
    const self = options.self.id;
    this.raft = new RaftNode<ControlCommand>({
      id: self,
      random: options.random,
      electionTimeoutTicks: options.electionTimeoutTicks,
      heartbeatIntervalTicks: 1,
      ...(restore
        ? { restore, voters: foundingVoters(restore), learners: [] }
        : options.bootstrap
          ? { voters: [self], learners: [] }
          : { voters: [], learners: [] }),
    });
    if (restore?.snapshot) {
      this.state.restore(restore.snapshot.data);
      this.applied = restore.snapshot.meta.index;
      this.acceptLossIndex = this.applied;
      this.snapshotIndex = this.applied;
    }
    // A founder with no one to wait for elects itself at once instead of after a timeout.
    if (!restore && options.bootstrap) this.raft.campaign();
    this.process();
  }

  get memberId(): string {
    return this.options.self.id;
  }

  /**
   * The failure detector's clock: the node's clock minus the time its own event loop was
   * blocked. While the loop is blocked (a long placement plan, a GC pause, a slow disk) the
   * peers' messages wait unread in the sockets, and when it resumes Node runs the tick timer
   * before it reads them (the timers phase comes before the poll phase). Measured on the plain
   * clock, a leader blocked for longer than the failure timeout would find every member silent
   * and declare them all dead in that first tick: a failover of the whole cluster for a pause
   * of its own. Measured on this clock, only silence the leader was there to hear counts, so a
   * member's detection is delayed by the leader's own stalls and never caused by them.
   */
  private listeningNow(): number {
    return this.options.clock.now() - this.deafMs;
  }

  /** What the failure detector knows of when each member was last heard. */
  private heard(): Pick<ControllerInput, 'lastHeard' | 'leaderSince' | 'predecessor' | 'refused'> {
    return {
      lastHeard: this.lastHeard,
      leaderSince: this.leaderSince,
      predecessor: this.predecessor,
      refused: this.refused,
    };
  }

  /**
   * Silence after a refused connection that counts as a failure: a few heartbeats, during
   * which a live member would have been heard (and its refusal forgotten).
   */
  private get refusedSilenceMs(): number {
    return 3 * this.options.tickMs;
  }

  /**
   * The runtime could not connect to `memberId`: its address refused the connection, so no
   * process listens there. As leader, the controller then declares it dead after a few
   * silent ticks instead of the failure timeout; as a follower of it, this node stops
   * defending its election lease and lets a new leader be elected at once (Raft's
   * forgetLeader). Anything heard from the member afterwards takes the refusal back.
   */
  peerRefused(memberId: string): void {
    if (this.closed || memberId === this.memberId || this.state.member(memberId) === undefined) {
      return;
    }
    this.refused.add(memberId);
  }

  /** The index of the last log entry applied to the cluster state. */
  get appliedIndex(): number {
    return this.applied;
  }

  get isLeader(): boolean {
    return this.raft.status().role === 'leader';
  }

  raftStatus(): RaftStatus {
    return this.raft.status();
  }

  /**
   * Until when (on this node's clock) the control-plane leader's grant lets this node serve
   * as a primary; -Infinity when it holds none. Only fenced nodes heed it.
   */
  get leaderGrantUntil(): number {
    return this.grant.heldUntil;
  }

  /** Advances Raft's clock by one tick; as leader, lets the controller act. */
  tick(): void {
    if (this.closed) return;
    const now = this.options.clock.now();
    // A tick more than two intervals after the last one means the loop was blocked in
    // between (timer jitter under load stays well below a tick); the time beyond one
    // interval is time nobody could be heard.
    if (this.lastTickAt !== null && now - this.lastTickAt > 2 * this.options.tickMs) {
      this.deafMs += now - this.lastTickAt - this.options.tickMs;
    }
    this.lastTickAt = now;
    this.forgetRefusedLeader();
    this.raft.tick();
    this.process();
    if (this.isLeader) this.control();
    this.process();
    this.releaseGrantWaiters(now);
  }

  /** A Raft message from the peer authenticated as `from`. Malformed ones are dropped. */
  receive(raw: unknown, from: string): void {
    if (this.closed) return;
    const message = parseRaftMessage(raw, isControlCommand);
    if (isBadRaftMessage(message)) {
      this.options.logger.warn(
        { peer: from, reason: message.reason },
        'dropped a malformed raft message',
      );
      return;
    }
    if (message.from !== from || message.to !== this.memberId) {
      this.options.logger.warn(
        { peer: from, claimed: message.from, to: message.to },
        'dropped a misaddressed raft message',
      );
      return;
    }
    if (message.type === 'snapshot' && !isClusterStateSnapshot(message.snapshot.data)) {
      this.options.logger.warn({ peer: from }, 'dropped a snapshot that is not a cluster state');
      return;
    }
    // Only a message that answers someone, or comes from a leader, shows the sender hears the
    // cluster. A node cut off one way (it sends, it hears nothing) campaigns every election
    // timeout; counting its vote requests as life kept it from being declared dead while it
    // served nothing (found by the chaos run; test/cluster/node-that-cannot-hear-is-declared-
    // dead.test.ts). etcd's check-quorum counts only replies, for the same reason.
    // Any message proves that the sender's process is alive, whatever it proves of its links.
    this.refused.delete(from);
    if (!unpromptedTypes.has(message.type)) this.lastHeard.set(from, this.listeningNow());
    this.raft.step(message);
    this.process();
    // After the entries the heartbeat commits are applied: a grant never reaches a table
    // older than the one the leader granted against (see send()).
    if (message.type === 'heartbeat') {
      this.grant.heartbeatReceived(message.from, message.term, message.granted);
    }
  }

  private forgetRefusedLeader(): void {
    const leader = this.raft.status().leader;
    if (leader === null || leader === this.memberId || !this.refused.has(leader)) return;
    const silence = this.listeningNow() - (this.lastHeard.get(leader) ?? -Infinity);
    if (silence < this.refusedSilenceMs) return;
    this.options.logger.info(
      { leader },
      'the control-plane leader refuses connections; electing another',
    );
    this.raft.forgetLeader(leader);
  }

  /**
   * Primaries' reports about their backups; only the leader acts on them. Reports are kept
   * until the table moves past them, so a report that arrives between decisions is not lost.
   */
  report(caughtUp: readonly PartitionReport[], lagging: readonly PartitionReport[]): void {
    // Only reports about a partition and a member this node knows: anything else can never
    // apply, and would only be kept.
    const applies = (r: PartitionReport): boolean =>
      this.state.table[r.partition] !== undefined && this.state.member(r.node) !== undefined;
    for (const r of caughtUp) {
      if (!applies(r)) continue;
      const key = `${r.partition}/${r.node}/${r.epoch}`;
      if (!this.caughtUpReports.has(key)) {
        this.caughtUpReports.add(key);
        this.reportsVersion++;
      }
    }
    // A primary reports a lagging copy every tick until the table changes: keep one of each,
    // so that repeats neither grow the list nor make the leader decide again.
    let fresh = false;
    for (const r of lagging) {
      if (!applies(r)) continue;
      const key = `${r.partition}/${r.node}/${r.epoch}`;
      if (this.laggingKeys.has(key)) continue;
      this.laggingKeys.add(key);
      this.laggingReports.push(r);
      fresh = true;
    }
    if (fresh) this.reportsVersion++;
    // The leader prunes at every decision; a follower (or a leader between decisions) does
    // it when the reports outgrow what the table can use: two per partition and member.
    const useful = 2 * this.state.table.length * Math.max(1, this.state.members.length);
    if (this.laggingReports.length + this.caughtUpReports.size > useful) this.pruneReports();
  }

  /**
   * Drops the reports the table has left behind (epochs it moved past, copies it already
   * put in or took out of sync). Kept, they would act again: the in-sync set changes within
   * an epoch, so an old "lagging" would take a copy that has since caught up out of the set
   * again, an old "caught up" would put it back, and the partition would flap between the
   * two every decision, for as long as the epoch lasts.
   */
  private pruneReports(): void {
    this.laggingReports = this.laggingReports.filter((r) => {
      const a = this.state.table[r.partition];
      return a?.epoch === r.epoch && a.inSync.includes(r.node);
    });
    this.laggingKeys.clear();
    for (const r of this.laggingReports)
      this.laggingKeys.add(`${r.partition}/${r.node}/${r.epoch}`);
    for (const key of this.caughtUpReports) {
      const [partition, node = '', epoch] = key.split('/');
      const a = this.state.table[Number(partition)];
      if (a?.epoch !== Number(epoch) || a.inSync.includes(node)) this.caughtUpReports.delete(key);
    }
  }

  /** The current control-plane leader's member id, if known. */
  get leaderId(): string | null {
    return this.raft.status().leader;
  }

  /** The leader's side of a join: commit the member, answer once applied. */
  async admit(request: JoinRequest): Promise<JoinResult> {
    const clusterId = this.requireLeader();
    if (request.clusterId !== null && request.clusterId !== this.state.clusterId) {
      throw new StatehouseError(
        ErrorCode.CLUSTER_MISMATCH,
        `the node belongs to cluster ${request.clusterId}, this is cluster ${this.state.clusterId}`,
      );
    }
    const now = this.listeningNow();
    const existing = this.state.member(request.memberId);
    let resetIndex: number | undefined;
    if (existing !== undefined) {
      // A member that resumed from its data dir: its Raft state survived, its entries (in
      // memory) did not, yet the table may still count its copies as current, if nobody
      // noticed it was gone. They are dropped, and in-sync backups take over where it was
      // primary, before it acts on any table (start-node.ts waits for this index). It may
      // not name the cluster: its data dir can predate learning the id (simulator seed
      // 1210). A new node asking again after its answer was lost is the same to the leader;
      // its copies are then made again, which costs a transfer and loses nothing.
      resetIndex = await this.commit({ type: 'lostCopies', id: existing.id }, 'the restart');
      this.lastHeard.set(request.memberId, now);
    }
    if (existing === undefined || existing.state === 'dead') {
      const namesake = this.state.memberByName(request.name);
      const namesakeAlive =
        namesake !== undefined &&
        (namesake.id === this.memberId ||
          now - heardAt(this.heard(), namesake.id) < this.options.failureTimeoutMs);
      if (namesake !== undefined && namesakeAlive) {
        throw new StatehouseError(
          ErrorCode.NODE_ID_IN_USE,
          `the name ${request.name} is in use by the live member at ${namesake.address}`,
        );
      }
      const member: MemberRecord = {
        id: request.memberId,
        name: request.name,
        address: request.address,
        state: 'active',
        ...(request.zone !== undefined && { zone: request.zone }),
      };
      this.lastHeard.set(request.memberId, now);
      this.options.transport.learn(request.memberId, request.address);
      await this.commit({ type: 'join', member }, 'the join');
    }
    return {
      clusterId,
      leaderId: this.memberId,
      leaderAddress: this.options.self.address,
      ...(resetIndex !== undefined && { resetIndex }),
    };
  }

  /**
   * The leader's side of a drain: commit that `memberId` is draining. Placement then hands
   * its primaries over and moves its copies away, and the controller lets it leave once it
   * holds nothing (controller.ts). Draining a member that drains already is not an error.
   */
  async drain(memberId: string): Promise<DrainResult> {
    this.requireLeader();
    const member = this.state.member(memberId) ?? this.state.memberByName(memberId);
    if (member === undefined || member.state === 'dead') {
      throw new StatehouseError(ErrorCode.BAD_REQUEST, `no live member ${memberId} to drain`);
    }
    if (member.state !== 'draining') {
      await this.commit({ type: 'setState', id: member.id, state: 'draining' }, 'the drain');
    }
    return { memberId: member.id };
  }

  /**
   * The leader's side of `statehouse accept-loss`: restarts each named stuck partition (every
   * stuck one when none are named) empty on an active member that holds no copy of it. The
   * operator's decision, never the cluster's own: the data those partitions held is gone.
   */
  async acceptLoss(partitions?: readonly number[]): Promise<AcceptLossResult> {
    this.requireLeader();
    const count = this.state.table.length;
    const named =
      partitions ?? this.state.table.flatMap((_, p) => (isStuck(this.state, p) ? [p] : []));
    const accepted: { partition: number; primary: string }[] = [];
    const refused: { partition: number; reason: string }[] = [];
    for (const partition of [...new Set(named)].sort((a, b) => a - b)) {
      if (partition >= count) {
        refused.push({ partition, reason: `no partition ${partition} (the cluster has ${count})` });
        continue;
      }
      let decision = this.acceptLossDecision(partition);
      if (typeof decision === 'string') {
        await this.grantsOver(partition);
        // The wait may have seen the table change: a lost copy revived, the candidate gone.
        decision = this.acceptLossDecision(partition);
      }
      if (typeof decision !== 'string') {
        refused.push({ partition, reason: decision.problem });
        continue;
      }
      const primary = decision;
      await this.commit({ type: 'acceptLoss', partition, newPrimary: primary }, 'accept-loss');
      accepted.push({ partition, primary });
    }
    this.options.logger.warn(
      { accepted, refused },
      'an operator accepted the loss of stuck partitions',
    );
    return { accepted, refused };
  }

  /** The member to restart `partition` on, or why it cannot be restarted now. */
  private acceptLossDecision(partition: number): string | { problem: string } {
    const primary = acceptLossCandidate(this.state, partition);
    const problem =
      primary === null
        ? 'every active member holds a stale copy of it'
        : acceptLossProblem(this.state, partition, primary);
    return problem !== null || primary === null ? { problem: problem ?? 'no candidate' } : primary;
  }

  /**
   * Waits until no leader grant can still let the partition's lost copies serve: none from an
   * earlier leader, none this one gave them before they were declared dead. A fenced primary
   * cut off with its partition's last in-sync copies has stopped by then, so the partition
   * never has two primaries. Unfenced ones serve on: the README's accept-loss warning.
   */
  private async grantsOver(partition: number): Promise<void> {
    const a = this.state.table[partition];
    const lost = a === undefined ? [] : [...(a.primary === null ? [] : [a.primary]), ...a.inSync];
    // Worked out again after each wait: a lost copy heard from meanwhile (a flapping link, a
    // pause that ended) may have been revived and granted again, then lost again. A copy
    // that keeps coming back is not waited for without end: the operator is told.
    const giveUpAt = this.options.clock.now() + grantWaitsMax * this.grant.waitMs;
    for (;;) {
      const at = this.grant.grantsOverAt(lost);
      if (at === null) {
        this.requireLeader();
        throw new StatehouseError(ErrorCode.UNAVAILABLE, 'leadership is settling; ask again');
      }
      const now = this.options.clock.now();
      if (at <= now) return;
      if (at > giveUpAt) {
        throw new StatehouseError(
          ErrorCode.UNAVAILABLE,
          `accept-loss: the lost copies of partition ${partition} keep being heard from; ` +
            'they may still be serving, so nothing was restarted: ask again once they are gone',
        );
      }
      await new Promise<void>((resolve) => this.grantWaiters.push({ at, resolve }));
      if (this.closed)
        throw new StatehouseError(ErrorCode.UNAVAILABLE, 'the node is shutting down');
    }
  }

  /** Proposes `command` and resolves once it is applied here; `what` names it in errors. */
  private async commit(command: ControlCommand, what: string): Promise<number> {
    // The followers drop an append holding a command they would not accept (a name over 256
    // characters from a join request, say), and would drop it for ever: nothing could be
    // committed after it. So the leader refuses to propose one.
    const type = command.type;
    if (!isControlCommand(command)) {
      throw new StatehouseError(ErrorCode.BAD_REQUEST, `${what}: a malformed ${type} command`);
    }
    const proposed = this.raft.propose(command);
    if (!proposed.ok) {
      throw new StatehouseError(
        ErrorCode.UNAVAILABLE,
        `cannot propose ${what} now (${proposed.reason})`,
      );
    }
    // A leader appends a proposal in its current term, synchronously.
    const term = this.raft.status().term;
    this.process();
    await this.waitApplied(proposed.index, term);
    return proposed.index;
  }

  /** The cluster's id, when this node leads it; NOT_LEADER with a hint otherwise. */
  private requireLeader(): string {
    const status = this.raft.status();
    if (status.role === 'leader' && this.state.clusterId !== null) return this.state.clusterId;
    const hint =
      status.leader === null ? undefined : this.options.transport.addressOf(status.leader);
    throw new StatehouseError(ErrorCode.NOT_LEADER, `${this.memberId} does not lead the cluster`, {
      ...(hint !== undefined && { meta: { hint } }),
    });
  }

  /**
   * The status as of a moment inside this call: Raft's read index confirms with a quorum that
   * the leader still leads and names the commit index to wait for, so the answer reflects
   * every change committed before the call, even when asked of a follower (thesis 6.4).
   */
  async linearizableStatus(timeoutMs = 2_000): Promise<ClusterStatus> {
    const requestId = `${this.memberId}/${++this.readSeq}`;
    const started = this.raft.readIndex(requestId);
    if (!started.ok) {
      if (started.reason === 'not-leader') {
        throw new StatehouseError(
          ErrorCode.UNAVAILABLE,
          'no control-plane leader is known to this node',
        );
      }
      throw new StatehouseError(ErrorCode.OVERLOADED, 'too many linearizable reads are pending');
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readWaiters.delete(requestId);
        reject(
          new StatehouseError(
            ErrorCode.TIMEOUT,
            'the control plane did not confirm the read in time',
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.readWaiters.set(requestId, { resolve, timer });
      this.process();
    });
    return this.status();
  }

  status(): ClusterStatus {
    const raft = this.raft.status();
    const table = this.state.table;
    const voters = new Set(raft.membership.voters);
    const learners = new Set(raft.membership.learners);
    const summary = new Map(summarize(table, []).map((s) => [s.node, s]));
    const rf = this.state.settings?.replicationFactor ?? 1;
    // Copies on dead members count for nothing: a partition whose primary died has no
    // primary (for good when no in-sync copy survived), and its dead copies are not in sync.
    const alive = (id: string | null): boolean =>
      id !== null && (this.state.member(id)?.state ?? 'dead') !== 'dead';
    const withoutPrimary = table.filter((a) => !alive(a.primary)).length;
    const underReplicated = table.filter((a) => a.inSync.filter(alive).length < rf).length;
    const stuck = table.flatMap((_, p) => (isStuck(this.state, p) ? [p] : []));
    return {
      clusterId: this.state.clusterId,
      self: this.memberId,
      leader: raft.leader,
      term: raft.term,
      commit: raft.commit,
      applied: this.applied,
      settings: this.state.settings,
      tableVersion: this.state.tableVersion,
      members: this.state.members.map((m) => ({
        ...m,
        role: voters.has(m.id) ? 'voter' : learners.has(m.id) ? 'learner' : 'none',
        primaries: summary.get(m.id)?.primaries ?? 0,
        copies: summary.get(m.id)?.copies ?? 0,
        catchingUp: summary.get(m.id)?.catchingUp ?? 0,
      })),
      partitions: { total: table.length, withoutPrimary, underReplicated, stuck },
      health:
        this.state.clusterId === null || withoutPrimary > 0
          ? 'unavailable'
          : underReplicated > 0
            ? 'degraded'
            : 'ok',
    };
  }

  close(): void {
    this.closed = true;
    for (const w of this.joinWaiters) {
      clearTimeout(w.timer);
      w.reject(new StatehouseError(ErrorCode.UNAVAILABLE, 'the node is shutting down'));
    }
    this.joinWaiters = [];
    // Resolved, they find the plane closed and fail with that.
    for (const w of this.grantWaiters) w.resolve();
    this.grantWaiters = [];
  }

  private waitApplied(index: number, term: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.joinWaiters = this.joinWaiters.filter((w) => w.timer !== timer);
        reject(
          new StatehouseError(ErrorCode.TIMEOUT, 'the change was not committed in time; ask again'),
        );
      }, joinCommitTimeoutMs);
      timer.unref();
      this.joinWaiters.push({ index, term, resolve, reject, timer });
    });
  }

  /** The leader's control loop: one round of decisions at a time. */
  private control(): void {
    if (this.applied < this.awaitingIndex) return;
    // The controller's `now` serves only failure detection, so it runs on the listening clock.
    const now = this.listeningNow();
    const raft = this.raft.status();
    if (this.state.clusterId === null) {
      if (this.options.bootstrap && this.applied === raft.commit) this.bootstrapCluster();
      return;
    }
    // Placement is the costly part of a decision; skip it while nothing it depends on moved:
    // the applied log, the Raft membership and which learners keep up, and which members
    // are alive.
    const heard = this.heard();
    const detector = {
      failureTimeoutMs: this.options.failureTimeoutMs,
      refusedSilenceMs: this.refusedSilenceMs,
    };
    const alive = this.state.members
      .filter((m) => !looksFailed(heard, m.id, now, detector))
      .map((m) => m.id);
    const ready = raft.membership.learners.filter((id) => this.raft.keepsUp(id));
    const facts = `${this.applied}|${this.reportsVersion}|${raft.membership.voters}|${raft.membership.learners}|${ready}|${alive}`;
    if (facts === this.lastDecidedOn) return;
    this.lastDecidedOn = facts;
    const decision = decide({
      state: this.state,
      membership: raft.membership,
      self: this.memberId,
      now,
      ...heard,
      caughtUp: (partition, node, epoch) =>
        this.caughtUpReports.has(`${partition}/${node}/${epoch}`),
      learnerKeepsUp: (id) => this.raft.keepsUp(id),
      lagging: this.laggingReports,
      options: {
        ...detector,
        votersMax: this.options.votersMax,
        ...(this.options.plantedBug !== undefined && { plantedBug: this.options.plantedBug }),
      },
    });
    // Reports of epochs the table has left behind can never apply again, and a report the
    // table already reflects has been acted on (pruneReports).
    this.pruneReports();
    for (const command of decision.commands) {
      const result = this.raft.propose(command);
      if (!result.ok) {
        this.lastDecidedOn = '';
        return;
      }
      this.awaitingIndex = Math.max(this.awaitingIndex, result.index);
      // Membership news is worth a line; the table's routine churn is not.
      const level = command.type === 'inSync' || command.type === 'placement' ? 'debug' : 'info';
      this.options.logger[level]({ command: describe(command) }, 'proposed');
    }
    if (decision.transferLeadershipTo !== undefined) {
      const result = this.raft.transferLeadership(decision.transferLeadershipTo);
      this.options.logger.info(
        { to: decision.transferLeadershipTo, ok: result.ok },
        'drained: handing control-plane leadership over',
      );
      // Deciding again after the transfer's timeout retries it if it failed.
      this.lastDecidedOn = '';
      this.process();
    }
    if (decision.configChange !== null) {
      const result = this.raft.proposeConfigChange(decision.configChange);
      if (result.ok) {
        this.awaitingIndex = Math.max(this.awaitingIndex, result.index);
        this.options.logger.info({ change: decision.configChange }, 'proposed membership change');
      } else {
        this.lastDecidedOn = '';
      }
    }
  }

  private bootstrapCluster(): void {
    const result = this.raft.propose({
      type: 'bootstrap',
      clusterId: (this.options.newClusterId ?? randomUUID)(),
      settings: this.options.settings,
      member: this.options.self,
    });
    if (result.ok) this.awaitingIndex = result.index;
  }

  /** Drains Raft's Ready: persist, send, apply, advance. Re-entrant calls are folded in. */
  private process(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      const versionBefore = this.state.tableVersion;
      let changed = false;
      while (this.raft.hasReady()) {
        const ready = this.raft.ready();
        this.options.storage.persist(ready);
        for (const message of ready.messages) this.send(message);
        if (ready.snapshotToApply) {
          // The entries a snapshot covers are not seen one by one: which of them were ours
          // cannot be told, so their waiters are told to ask again.
          this.failLostProposals(ready.snapshotToApply.meta.index, null);
          this.state.restore(ready.snapshotToApply.data);
          this.applied = ready.snapshotToApply.meta.index;
          this.acceptLossIndex = this.applied;
          this.snapshotIndex = this.applied;
          changed = true;
        }
        for (const entry of ready.committedEntries) {
          this.failLostProposals(entry.index, entry.term);
          if (entry.kind === 'normal') {
            if (entry.data.type === 'acceptLoss') this.acceptLossIndex = entry.index;
            const result = this.state.apply(entry.data);
            if (result.applied) changed = true;
          }
          this.applied = entry.index;
        }
        // The Ready contract: a read state's index is applied by now (step 3 above).
        for (const read of ready.readStates) {
          const waiter = this.readWaiters.get(read.requestId);
          if (waiter === undefined) continue;
          this.readWaiters.delete(read.requestId);
          clearTimeout(waiter.timer);
          waiter.resolve();
        }
        this.trackLeadership(ready.softState.role === 'leader');
        this.raft.advance();
      }
      this.noteNewRaftMembers();
      this.noteLeadership();
      if (changed) {
        for (const m of this.state.members) this.options.transport.learn(m.id, m.address);
        if (this.state.tableVersion !== versionBefore || changed) this.options.onChange(this.state);
      }
      this.releaseJoinWaiters();
      if (this.applied - this.snapshotIndex >= snapshotEveryEntries) {
        this.raft.compact(this.applied, this.state.snapshot());
        this.snapshotIndex = this.applied;
        while (this.raft.hasReady()) {
          const ready = this.raft.ready();
          this.options.storage.persist(ready);
          for (const message of ready.messages) this.send(message);
          this.raft.advance();
        }
      }
    } finally {
      this.processing = false;
    }
  }

  /**
   * A member is heard only once it is in Raft: until the leader adds it as a learner nobody
   * sends it anything, so it has nothing to answer. The leader adds learners one config change
   * at a time, a commit round each, so when many nodes join at once the last waits seconds;
   * counted from its join, that wait was silence, and a scale-out of 90 nodes had about 90
   * of them declared dead (and their new copies dropped and made again) before they were ever
   * asked. Its silence is counted from when it entered Raft instead, as if heard then; the
   * controller does not count the silence of a member not yet in Raft at all.
   *
   * A dead member entering Raft is not counted as heard: the controller revives a dead member
   * on a message within the failure timeout, and a voter declared dead is removed from the
   * voters and added back as a learner at once, so counting that as a message revived every
   * lost voter without a word from it (for placement to give copies to a node that is down),
   * and revived an old incarnation a newer one had replaced (data-plane sim seeds 16, 20,
   * 26, 31, 39 and 51).
   */
  private noteNewRaftMembers(): void {
    const membership = this.raft.status().membership;
    if (membership === this.raftMembership) return;
    this.raftMembership = membership;
    const members = new Set([...membership.voters, ...membership.learners]);
    const now = this.listeningNow();
    for (const id of members) {
      if (this.raftMembers.has(id) || id === this.memberId) continue;
      if (this.state.member(id)?.state === 'dead') continue;
      this.lastHeard.set(id, Math.max(this.lastHeard.get(id) ?? now, now));
    }
    this.raftMembers = members;
  }

  /**
   * Sends a Raft message, noting what the leader grant needs: when this node answered each
   * heartbeat round, and, as leader, when it started each round and granted each member. A
   * member the applied state holds dead is granted nothing: accept-loss counts on that.
   */
  private send(message: Message<ControlCommand>): void {
    const now = this.options.clock.now();
    if (message.type === 'heartbeatResp') {
      this.grant.answerSent(message.to, message.term, message.context, now);
    } else if (message.type === 'heartbeat') {
      this.grant.roundSent(message.term, message.context, now);
      if (message.granted > 0) {
        // Nothing for a member held dead (accept-loss counts on that), nor for one whose log
        // does not yet reach the last accept-loss: a primary healed after its partition was
        // restarted elsewhere must apply that before any grant lets it serve. The heartbeat
        // that grants it also commits the entry, and the member applies it first (receive).
        if (
          this.state.member(message.to)?.state === 'dead' ||
          this.raft.matchOf(message.to) < this.acceptLossIndex
        ) {
          message = { ...message, granted: 0 };
        } else {
          this.grant.grantSent(message.to, now);
        }
      }
    }
    this.options.transport.send(message);
  }

  private noteLeadership(): void {
    const status = this.raft.status();
    const lead =
      status.role !== 'leader'
        ? null
        : {
            term: status.term,
            confirmedRound: status.confirmedRound,
            alone:
              status.membership.voters.length === 1 &&
              status.membership.voters[0] === this.memberId,
          };
    this.grant.leadership(lead, this.options.clock.now());
  }

  private releaseGrantWaiters(now: number): void {
    if (this.grantWaiters.length === 0) return;
    const due = this.grantWaiters.filter((w) => w.at <= now);
    this.grantWaiters = this.grantWaiters.filter((w) => w.at > now);
    for (const w of due) w.resolve();
  }

  private trackLeadership(isLeader: boolean): void {
    const leader = this.raft.status().leader;
    if (!isLeader && leader !== null && leader !== this.memberId) this.followed = leader;
    if (isLeader && !this.wasLeader) {
      this.leaderSince = this.listeningNow();
      this.predecessor = this.followed;
      this.awaitingIndex = 0;
      this.options.logger.info({ term: this.raft.status().term }, 'became control-plane leader');
    }
    if (!isLeader && this.wasLeader) {
      // Check-quorum, a higher term or a removal: worth a line, as the election was.
      const { term, role } = this.raft.status();
      this.options.logger.info({ term, role, leader }, 'stopped leading the control plane');
    }
    this.wasLeader = isLeader;
  }

  /**
   * Rejects the waiters of proposals that did not survive: an entry committed at their
   * index in another term (`term` null: unknown) is another leader's, which overwrote
   * theirs after this node lost leadership. Without this, the caller would be told that its
   * join, drain or lostCopies took effect when it never did.
   */
  private failLostProposals(index: number, term: number | null): void {
    if (this.joinWaiters.length === 0) return;
    const lost = this.joinWaiters.filter(
      (w) => (term === null ? w.index <= index : w.index === index) && w.term !== term,
    );
    if (lost.length === 0) return;
    this.joinWaiters = this.joinWaiters.filter((w) => !lost.includes(w));
    for (const w of lost) {
      clearTimeout(w.timer);
      w.reject(
        new StatehouseError(
          ErrorCode.UNAVAILABLE,
          'the change was lost to a change of control-plane leader; ask again',
        ),
      );
    }
  }

  private releaseJoinWaiters(): void {
    if (this.joinWaiters.length === 0) return;
    const done = this.joinWaiters.filter((w) => w.index <= this.applied);
    if (done.length === 0) return;
    this.joinWaiters = this.joinWaiters.filter((w) => w.index > this.applied);
    for (const w of done) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }
}

/**
 * The membership a cluster was founded with is not in its log (Raft takes it as a starting
 * point), but the founder is: it is the member of the `bootstrap` entry. A node restarting
 * from a log that still begins at the start finds it there; once the log is compacted, the
 * snapshot carries the membership instead and this is ignored.
 */
function foundingVoters(restore: PersistedState<ControlCommand>): string[] {
  for (const entry of restore.entries) {
    if (entry.kind === 'normal' && entry.data.type === 'bootstrap') return [entry.data.member.id];
  }
  return [];
}

function describe(command: ControlCommand): string {
  switch (command.type) {
    case 'placement':
      return `placement: ${command.changes.length} changes`;
    case 'setState':
      return `${command.id} is ${command.state}`;
    case 'inSync':
      return `partition ${command.partition}: ${command.node} in sync`;
    case 'join':
      return `${command.member.id} joins`;
    default:
      return command.type;
  }
}
