/**
 * Primary-backup replication of one partition (PacificA, with Kafka's in-sync set).
 *
 * Background
 * ----------
 * Every partition has, per epoch, one primary and some backups, and the control plane (Raft)
 * decides them: who is primary in which epoch, who the backups are, and which of them are
 * *in sync* (known to hold everything the primary acknowledged). A node keeps one
 * PartitionReplica per partition it holds. The replica is a pure state machine: the runtime
 * feeds it the control plane's decisions (`configure`), client commands (`execute`), peer
 * messages (`receive`) and time (`tick`), and carries out the effects it returns: replies
 * to give, messages to send, backups to report as caught up or lagging. It never reads a
 * clock or touches a socket (DESIGN.md section 2).
 *
 * The steps of a write
 * --------------------
 *  1. The client's command reaches the primary of the current epoch; any other replica
 *     answers NOT_PRIMARY with its epoch, so the client refreshes its table.
 *  2. If fewer replicas are in sync than `minInSync`, a write is refused with UNAVAILABLE
 *     before anything changes: the operator asked for that many copies of every write.
 *  3. The store executes the command (store/partition-store.ts): conditions, patches and TTL
 *     arithmetic happen here, once, and come out as mutations numbered by seq.
 *  4. The mutations go into the replication backlog (replication-log.ts). They are not sent
 *     one by one: `flush()`, called by the runtime once per turn of its loop, sends each
 *     backup one `append` with everything it has not been sent yet. Many writes, one message
 *     per destination.
 *  5. An async write is answered now. A sync write waits in `pending` until every in-sync
 *     member has acknowledged a seq at or beyond its last mutation; acks release the queue in
 *     seq order, so replies leave in the order the writes were applied.
 *
 * What a backup sees
 * ------------------
 * A backup takes appends only from the primary of its own current epoch; anything from an
 * older epoch is refused, anything from a newer one waits until the control plane tells it
 * about that epoch (the primary resends). An append says which seq it starts at and which
 * epochs wrote its seqs. The backup applies it only if it continues the backup's own store:
 * the message must cover the backup's lastSeq, and the epoch that wrote that seq must be the
 * same on both sides (the Log Matching check explained in replication-log.ts). Seqs already
 * applied are skipped, so duplicated and reordered appends are harmless, and the backup acks
 * its lastSeq. An append that starts beyond lastSeq is answered `behind` (the primary rewinds
 * and resends from the backlog); one whose epochs disagree is answered `needSnapshot`.
 * A backup keeps a backlog too, so that if it is promoted it can feed the others.
 *
 * Catch-up
 * --------
 * A primary starts each epoch knowing nothing of its backups. It sends each one an append
 * from its own lastSeq (empty if there is nothing new: a probe); the answers say where each
 * backup stands. A backup whose position the primary can vouch for (same writer epoch at its
 * lastSeq) is resumed from the backlog. One that is ahead, diverged, or behind the backlog's
 * start gets a state transfer (state-transfer.ts): a snapshot at one seq S, sent in chunks
 * with a few in flight. Writes continue meanwhile; the primary does not send them to that
 * backup but keeps them in its backlog (so the backup never buffers two streams at once), and
 * resumes the stream from S+1 once the backup has installed the snapshot. The backlog keeps
 * every seq from S+1 on, past its usual `logMutationsMax`, until that backup has caught up
 * (the peer's `holdFrom`), up to the hard bound `transferLogMutationsMax` and
 * `transferLogBytesMax`; only a transfer during which more writes arrive than that starts
 * over. When a backup that is not in the in-sync set has acknowledged everything the primary
 * has, the replica reports it in `caughtUp`; the control plane adds it to the in-sync set
 * through Raft.
 *
 * Why no acknowledged sync write is lost
 * --------------------------------------
 * A sync write is acknowledged only when every member of the in-sync set of the epoch it was
 * accepted in holds it. The in-sync set shrinks only through the control plane, and this
 * replica never acts on a shrink before the control plane's `configure` says so: a backup
 * that stops acknowledging is only *reported* (`lagging`), and writes wait for it until it
 * is gone from the table. The control plane promotes only an in-sync member. So whichever
 * replica becomes primary next holds every acknowledged write, and because a new primary's
 * backups are checked against its epoch history before they are resumed, no backup keeps a
 * write the new primary never had. A configure to a new epoch fails every reply still
 * pending: those writes may or may not survive, so they are answered NOT_PRIMARY or
 * UNAVAILABLE, never success; a client retries with its idempotency id, and the partition's
 * remembered results answer it without applying it twice. (Carrying them into the new epoch
 * when this node stays primary would also be safe; failing them is simpler, and rare.)
 * The primary's lease, which stops a deposed primary from serving reads, is the runtime's.
 *
 * What async trades away
 * ----------------------
 * An async write is acknowledged once the primary applied it. If the primary dies before
 * its backups acknowledged it, the promoted backup does not have it: the client was told
 * "done" and the write is gone. Nothing else is weaker: the survivors still agree with each
 * other, and the epoch checks still keep a diverged copy out.
 *
 * Why a read never shows a write a failover can take back
 * -------------------------------------------------------
 * The primary's store holds its writes as soon as it applied them, before the in-sync set
 * does. A read answered from it at once could show such a write; if the primary then lost
 * its role before the backups held it, the next primary never had it (or applies a retry of
 * it after later writes), and the value read was never, in any order, the register's value.
 * So a read is answered like a sync write: in seq order, once every in-sync member holds
 * everything the store held when the read was executed. The reply is the value at that
 * moment, which is when the read takes effect. Reads of a partition with writes in flight
 * wait about one round trip to a backup; a partition with none answers at once.
 *
 * Honest limits: A backup whose transfer and catch-up see more writes than
 * the transfer bounds hold starts over, and would do so forever if the writes never slow
 * down. The mutations held for a transfer are not charged to the node's MemoryBudget (the
 * backlog never is); the transfer bounds are what limit them.
 */
import { assert } from '../core/assert.js';
import type { PlantedBug } from '../core/planted-bug.js';
import { ErrorCode } from '../core/errors.js';
import { PartitionStore } from '../store/index.js';
import type {
  Command,
  IdempotencyId,
  Mutation,
  Outcome,
  PartitionStoreOptions,
  SnapshotClient,
  SnapshotEntry,
} from '../store/index.js';
import {
  EpochHistory,
  MutationLog,
  epochAt,
  sameWriter,
  type EpochStart,
} from './replication-log.js';
import { captureSnapshot, rebuildStore, type Snapshot } from './state-transfer.js';

export type MemberId = string;
export type RequestId = number;
export type Role = 'primary' | 'backup' | 'none';
export type Durability = 'sync' | 'async';

/** What the control plane's table says about this partition. */
export interface ReplicaConfig {
  readonly epoch: number;
  readonly role: Role;
  /** The primary's member id in this epoch; null when the partition has none. */
  readonly primary: MemberId | null;
  /** Members known to be current, the primary included. */
  readonly inSync: readonly MemberId[];
  /** Every member holding a copy besides the primary, in sync or catching up. */
  readonly backups: readonly MemberId[];
}

export type ReplicationMessage =
  | {
      readonly type: 'append';
      readonly partition: number;
      readonly epoch: number;
      /** The seq of the first mutation, or of the next one to come when there are none. */
      readonly fromSeq: number;
      /** Which epochs wrote seqs fromSeq-1 .. the last mutation's seq. */
      readonly history: readonly EpochStart[];
      readonly mutations: readonly Mutation[];
    }
  | {
      readonly type: 'ack';
      readonly partition: number;
      readonly epoch: number;
      /** The backup's lastSeq. */
      readonly seq: number;
      /** The epoch that wrote `seq` on the backup (0 for seq 0). */
      readonly lastEpoch: number;
      /** The append did not reach back to `seq`: send again from seq+1. */
      readonly behind?: boolean;
      /** The backup's history disagrees with the primary's: it needs a state transfer. */
      readonly needSnapshot?: boolean;
    }
  | {
      readonly type: 'snapshot';
      readonly partition: number;
      readonly epoch: number;
      /** The seq the snapshot was taken at: the stream resumes from seq+1. */
      readonly seq: number;
      readonly chunk: number;
      readonly last: boolean;
      readonly entries: readonly SnapshotEntry[];
      readonly remembered: readonly SnapshotClient[];
      /** The primary's epoch history up to `seq`; sent with the last chunk. */
      readonly history: readonly EpochStart[];
    }
  | {
      readonly type: 'snapshotAck';
      readonly partition: number;
      readonly epoch: number;
      readonly seq: number;
      readonly chunk: number;
    };

export interface Reply {
  readonly requestId: RequestId;
  readonly outcome: Outcome;
}

export interface Send {
  readonly to: MemberId;
  readonly message: ReplicationMessage;
}

/** What the runtime must do after an input, in order: give the replies, send the messages. */
export interface Effects {
  replies: Reply[];
  send: Send[];
  /** Backups that hold everything the primary has and are not in sync yet: report them. */
  caughtUp?: { readonly node: MemberId; readonly epoch: number }[];
  /** In-sync backups that have not acknowledged for longer than ackTimeoutMs: report them. */
  lagging?: MemberId[];
}

export interface PartitionReplicaOptions {
  /** This node's member id. */
  readonly self: MemberId;
  /** How to build the store; a state transfer builds a new one with the same options. */
  readonly store: PartitionStoreOptions;
  /**
   * Replicas (the primary included) that must be in sync for a write to be accepted.
   * Default 1: the primary alone. Higher refuses writes with UNAVAILABLE rather than
   * accept them with fewer copies.
   */
  readonly minInSync?: number;
  /**
   * Milliseconds an in-sync backup may leave the primary's writes unacknowledged before it
   * is reported lagging (the data plane reports a copy silent to its primary's lease pings
   * for as long the same way). Default 2,000: well above a loaded network's round trip and
   * a GC pause, and short enough that sync writes do not stall for long behind a dead
   * backup.
   */
  readonly ackTimeoutMs?: number;
  /**
   * Milliseconds before an unacknowledged append or snapshot chunk is sent again. Default
   * 200: a few round trips on a LAN; resending is idempotent, so erring short costs only
   * bandwidth.
   */
  readonly resendMs?: number;
  /** Mutations per append message. Default 1,024. */
  readonly appendMutationsMax?: number;
  /** Approximate bytes per append message (at least one mutation). Default 1 MiB. */
  readonly appendBytesMax?: number;
  /** Mutations kept in the backlog. Default 65,536: about a second of heavy writes. */
  readonly logMutationsMax?: number;
  /** Approximate bytes kept in the backlog. Default 64 MiB. */
  readonly logBytesMax?: number;
  /**
   * Mutations the backlog may hold, beyond logMutationsMax, for a backup that is receiving a
   * state transfer or catching up after one: it resumes from the snapshot's seq, so every
   * write made meanwhile must still be there. Default 1,048,576 (16 x the default
   * logMutationsMax: about 16 seconds of heavy writes, time to send a few GiB on a LAN), or
   * 16 x logMutationsMax when that is larger. Beyond it the oldest go and the transfer
   * starts over. At least logMutationsMax.
   */
  readonly transferLogMutationsMax?: number;
  /**
   * Approximate bytes the backlog may hold for such a backup. Default 256 MiB (4 x the
   * default logBytesMax), or 4 x logBytesMax when that is larger; it is memory outside the
   * MemoryBudget, held only while a transfer or its catch-up runs. At least logBytesMax.
   */
  readonly transferLogBytesMax?: number;
  /**
   * Replies (sync writes, and reads behind them) waiting for acks before more are refused
   * with UNAVAILABLE. Default 10,000.
   */
  readonly pendingWritesMax?: number;
  /** Entries (or remembered clients) per snapshot chunk. Default 256. */
  readonly snapshotChunkEntriesMax?: number;
  /** Approximate bytes per snapshot chunk (at least one item). Default 1 MiB. */
  readonly snapshotChunkBytesMax?: number;
  /** Snapshot chunks sent and not yet acknowledged. Default 4. */
  readonly snapshotChunksInFlightMax?: number;
  /** Test-only (core/planted-bug.ts): a deliberate bug for the simulator to catch. */
  readonly plantedBug?: PlantedBug;
}

const MiB = 1024 * 1024;

/**
 * What a backup keeps of the stream for the day it is promoted: see onAppend. 128 mutations
 * are 64 sync writes with their remembered results, per partition: more than the writes a
 * partition has in flight under any load measured here (a copy that was in sync when the
 * primary failed is behind by at most those), and a copy further behind gets a snapshot
 * instead, which is slower but as correct. The tail is kept by every backup of every
 * partition and its objects outlive the young generation, so it is paid for in old-space
 * garbage collection on every write: at 1,024 mutations it held about as many objects as
 * the store itself, and an in-process replicated-set benchmark ran 10-16% faster without it.
 */
const backupLogMutationsMax = 128;
const backupLogBytesMax = 128 * 1024;

interface PendingWrite {
  readonly requestId: RequestId;
  readonly outcome: Outcome;
  /** Every in-sync member must have acknowledged this seq. */
  readonly seq: number;
  /** A read waiting behind writes: it changed nothing, so its failure is not in doubt. */
  readonly read?: boolean;
  /** When it started waiting (giveUpWaiting). */
  readonly at: number;
}

/** The primary's view of one backup in the current epoch. */
interface Peer {
  readonly id: MemberId;
  /** The backup's position has been checked against this primary's history. */
  confirmed: boolean;
  /** Highest seq the backup acknowledged holding (meaningful once confirmed). */
  ackedSeq: number;
  /** Highest seq sent to it; rewound to ackedSeq when a resend is due. */
  sentSeq: number;
  lastSendAt: number;
  /** Since when it has owed an ack; null while it has acknowledged everything. */
  waitingSince: number | null;
  lastCaughtUpReportAt: number | null;
  /**
   * This primary reported the peer caught up in this epoch. From then on it counts the peer
   * as in sync for acknowledgements, before the table says so: the leader may commit the
   * peer into the in-sync set, and the peer be promoted, before this primary applies that
   * table, and a write acknowledged without it in between would be lost (found by the
   * data-plane simulator, seeds 88 and 170). Cleared only with the peer (a new epoch, or
   * the peer leaving the partition).
   */
  vouched: boolean;
  transfer: Transfer | null;
  /**
   * The first seq this backup still needs after a state transfer (S+1, then its ackedSeq+1
   * while it catches up): the backlog keeps it beyond its usual bound. Null when the backup
   * has caught up, or was never transferred to: a backup merely lagging does not hold the
   * backlog, so a dead one costs only the usual bound.
   */
  holdFrom: number | null;
}

interface Transfer {
  readonly snapshot: Snapshot;
  readonly history: readonly EpochStart[];
  ackedChunk: number;
  sentChunk: number;
  lastSendAt: number;
}

/** What a backup has received of a state transfer so far. */
interface Incoming {
  readonly seq: number;
  nextChunk: number;
  readonly entries: SnapshotEntry[];
  readonly clients: SnapshotClient[];
}

/** A mutation whose value is its own bytes, not a view into the frame it arrived in. */
function ownedMutation(m: Mutation): Mutation {
  return m.kind === 'put'
    ? {
        kind: 'put',
        seq: m.seq,
        key: m.key,
        value: new Uint8Array(m.value),
        expiresAt: m.expiresAt,
      }
    : m;
}

/** The planted bug backupDropsExpiry: a put kept as if it had no TTL. */
function withoutExpiry(m: Mutation): Mutation {
  return m.kind === 'put' ? { ...m, expiresAt: 0 } : m;
}

function emptyEffects(): Effects {
  return { replies: [], send: [] };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function atLeast(name: string, value: number, floorName: string, floor: number): number {
  positiveInteger(name, value);
  if (value < floor) {
    throw new RangeError(
      `${name} (${value}) must be at least ${floorName} (${floor}); raise it or lower ${floorName}`,
    );
  }
  return value;
}

export class PartitionReplica {
  readonly partition: number;
  readonly self: MemberId;
  private readonly storeOptions: PartitionStoreOptions;
  private readonly minInSync: number;
  /** See PartitionReplicaOptions; the data plane's check for silent copies uses it too. */
  readonly ackTimeoutMs: number;
  private readonly resendMs: number;
  private readonly appendMutationsMax: number;
  private readonly appendBytesMax: number;
  private readonly pendingWritesMax: number;
  private readonly chunkEntriesMax: number;
  private readonly chunkBytesMax: number;
  private readonly chunksInFlightMax: number;
  private readonly plantedBug: PlantedBug | undefined;

  private storeValue: PartitionStore;
  private readonly log: MutationLog;
  private readonly history = new EpochHistory();
  private epochValue = 0;
  private roleValue: Role = 'none';
  private primaryId: MemberId | null = null;
  /** Copies of the partition besides the primary's and this node's (a backup's tail needs some). */
  private otherBackups = 0;
  private inSyncSet: ReadonlySet<MemberId> = new Set();
  /** The in-sync set's members other than this node, for the per-write check. */
  private inSyncOthers: readonly MemberId[] = [];
  /** See leasePeers; rebuilt when the in-sync set, the peers or a vouch changes. */
  private leasePeersValue: readonly MemberId[] = [];
  private readonly peers = new Map<MemberId, Peer>();
  /**
   * The values of `peers`, as an array: the per-write loops (appendLocal, flush, release)
   * walk it by index instead of allocating a Map iterator each time.
   */
  private peerList: Peer[] = [];
  private pending: PendingWrite[] = [];
  private incoming: Incoming | null = null;
  /**
   * Backup: this epoch's primary has confirmed this copy's position, so the copy is a prefix
   * of the primary's (it holds nothing the primary never had): an append of this epoch's
   * primary continued it (same writer at its last seq), or a transfer from it was installed.
   * Cleared by a new epoch and when a transfer starts. See `answersAnyReads`.
   */
  private followsPrimary = false;
  /**
   * The seq of the last snapshot installed in this epoch (-1: none). Within an epoch the
   * primary's snapshots only move forward, so a chunk of one no newer is a late copy.
   */
  private installedSnapshotSeq = -1;
  private now = -Infinity;

  constructor(options: PartitionReplicaOptions) {
    this.self = options.self;
    this.storeOptions = options.store;
    this.partition = options.store.partition;
    this.minInSync = positiveInteger('minInSync', options.minInSync ?? 1);
    this.ackTimeoutMs = positiveInteger('ackTimeoutMs', options.ackTimeoutMs ?? 2_000);
    this.resendMs = positiveInteger('resendMs', options.resendMs ?? 200);
    this.appendMutationsMax = positiveInteger(
      'appendMutationsMax',
      options.appendMutationsMax ?? 1_024,
    );
    this.appendBytesMax = positiveInteger('appendBytesMax', options.appendBytesMax ?? MiB);
    this.pendingWritesMax = positiveInteger('pendingWritesMax', options.pendingWritesMax ?? 10_000);
    this.chunkEntriesMax = positiveInteger(
      'snapshotChunkEntriesMax',
      options.snapshotChunkEntriesMax ?? 256,
    );
    this.chunkBytesMax = positiveInteger(
      'snapshotChunkBytesMax',
      options.snapshotChunkBytesMax ?? MiB,
    );
    this.chunksInFlightMax = positiveInteger(
      'snapshotChunksInFlightMax',
      options.snapshotChunksInFlightMax ?? 4,
    );
    this.plantedBug = options.plantedBug;
    this.storeValue = new PartitionStore(options.store);
    const logMutationsMax = positiveInteger('logMutationsMax', options.logMutationsMax ?? 65_536);
    const logBytesMax = positiveInteger('logBytesMax', options.logBytesMax ?? 64 * MiB);
    this.log = new MutationLog(
      1,
      logMutationsMax,
      logBytesMax,
      atLeast(
        'transferLogMutationsMax',
        options.transferLogMutationsMax ?? Math.max(16 * logMutationsMax, 1_048_576),
        'logMutationsMax',
        logMutationsMax,
      ),
      atLeast(
        'transferLogBytesMax',
        options.transferLogBytesMax ?? Math.max(4 * logBytesMax, 256 * MiB),
        'logBytesMax',
        logBytesMax,
      ),
    );
  }

  /** The partition's store; replaced by a new object when a state transfer completes. */
  get store(): PartitionStore {
    return this.storeValue;
  }

  get epoch(): number {
    return this.epochValue;
  }

  get role(): Role {
    return this.roleValue;
  }

  /**
   * The copies whose lease grants this node needs to serve as primary: those that could be
   * promoted over it. That is the in-sync set, and the backups it reported caught up in this
   * epoch, which the leader may have committed in sync before this node applies that table.
   * A backup that is neither cannot be promoted (only its primary's report puts it in sync,
   * and a new epoch starts the count again), so a cut-off copy still being built, or one the
   * table took out of sync, does not stop its primary (chaos seed 1474107191: a bridge
   * leader heard both sides of a cut, and 25 primaries waited for backups beyond it).
   */
  get leasePeers(): readonly MemberId[] {
    return this.leasePeersValue;
  }

  get lastSeq(): number {
    return this.storeValue.lastSeq;
  }

  /**
   * Whether this backup may answer a read that allows any replica from its own copy: this
   * epoch's primary confirmed its position (it continued the primary's stream or installed
   * the primary's snapshot) and no transfer is coming in. Until then the copy may hold writes
   * the primary never had, never acknowledged and about to be rolled back (an old primary
   * after a hand-over, a backup that got a write its promoted peer missed).
   */
  get answersAnyReads(): boolean {
    return this.roleValue === 'backup' && this.followsPrimary && this.incoming === null;
  }

  /** Mutations held in the replication backlog, and their approximate bytes (for metrics). */
  get backlog(): { mutations: number; bytes: number } {
    return { mutations: this.log.length, bytes: this.log.byteCount };
  }

  /** Sync writes waiting for acks. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /**
   * Answers the replies that have waited for the in-sync set since before `before`: a write
   * in doubt (applied here, perhaps on some backups, perhaps lost with this copy), a read to
   * be asked again. The data plane calls this on a primary that lost its lease with writes
   * stuck behind an unacknowledging backup: cut off from its copies, it will most likely
   * never hear of the epoch change that would fail them, and its callers would otherwise
   * wait until their own deadlines. In doubt is the truth, and the client's retry with the
   * same idempotency id settles it on whichever primary serves next. Nothing is acknowledged
   * here, so no guarantee depends on when this runs.
   */
  giveUpWaiting(before: number): Effects {
    const effects = emptyEffects();
    let given = 0;
    while (given < this.pending.length && (this.pending[given] as PendingWrite).at < before) {
      const p = this.pending[given] as PendingWrite;
      const message =
        `partition ${this.partition}: ${this.self} lost its lease while this ` +
        (p.read === true
          ? 'read waited for the in-sync replicas; ask again'
          : 'write waited for the in-sync replicas; it may or may not have been applied');
      effects.replies.push({
        requestId: p.requestId,
        outcome: {
          ok: false,
          code: ErrorCode.UNAVAILABLE,
          message,
          meta: {
            partition: this.partition,
            epoch: this.epochValue,
            ...(p.read !== true && { inDoubt: true }),
          },
        },
      });
      given++;
    }
    if (given > 0) this.pending = this.pending.slice(given);
    return effects;
  }

  /** The primary's view of a backup, for metrics and tests. */
  peerState(id: MemberId): { ackedSeq: number; confirmed: boolean; transferring: boolean } | null {
    const peer = this.peers.get(id);
    return peer === undefined
      ? null
      : {
          ackedSeq: peer.ackedSeq,
          confirmed: peer.confirmed,
          transferring: peer.transfer !== null,
        };
  }

  // ---- the control plane -----------------------------------------------------------------

  /**
   * The control plane's table changed. An older epoch is ignored (tables can arrive out of
   * order); the same epoch may change only the in-sync set and the backups.
   */
  configure(config: ReplicaConfig, now: number): Effects {
    this.advance(now);
    const effects = emptyEffects();
    assert(
      Number.isSafeInteger(config.epoch) && config.epoch >= 0,
      () => `configure: epoch must be a non-negative integer, got ${config.epoch}`,
    );
    assert(
      (config.role === 'primary') === (config.primary === this.self),
      () =>
        `configure: partition ${this.partition} role ${config.role} but primary ` +
        `${String(config.primary)} (self ${this.self})`,
    );
    if (config.epoch < this.epochValue) return effects;
    this.otherBackups = config.backups.filter((b) => b !== this.self).length;
    if (config.epoch === this.epochValue) {
      assert(
        config.role === this.roleValue && config.primary === this.primaryId,
        () =>
          `configure: partition ${this.partition} epoch ${config.epoch} changed its primary ` +
          `without a new epoch`,
      );
      this.setInSync(config.inSync);
      if (this.roleValue === 'primary') {
        this.syncPeers(config, now, effects);
        this.release(effects);
      }
      return effects;
    }
    // A new epoch. Writes acknowledged by every in-sync member of the old one are answered;
    // the rest fail, so nothing is acknowledged on the strength of a different set.
    if (this.roleValue === 'primary') this.release(effects);
    const code = config.role === 'primary' ? ErrorCode.UNAVAILABLE : ErrorCode.NOT_PRIMARY;
    for (const p of this.pending) {
      if (p.read === true) {
        effects.replies.push({
          requestId: p.requestId,
          outcome: {
            ok: false,
            code,
            message: `partition ${this.partition} moved to epoch ${config.epoch} before the read was confirmed by every in-sync replica; ask again`,
            meta: { partition: this.partition, epoch: config.epoch },
          },
        });
        continue;
      }
      effects.replies.push({
        requestId: p.requestId,
        outcome: {
          ok: false,
          code,
          message:
            `partition ${this.partition} moved to epoch ${config.epoch} before the write was ` +
            'acknowledged by every in-sync replica; it may or may not have been applied',
          meta: { partition: this.partition, epoch: config.epoch, inDoubt: true },
        },
      });
    }
    this.pending = [];
    this.epochValue = config.epoch;
    this.roleValue = config.role;
    this.primaryId = config.primary;
    this.setInSync(config.inSync);
    this.peers.clear();
    this.peerList = [];
    this.updateLeasePeers();
    this.incoming = null;
    this.followsPrimary = false;
    this.installedSnapshotSeq = -1;
    if (config.role === 'none' && this.storeValue.lastSeq > 0) this.dropCopy();
    if (config.role === 'primary') {
      this.history.begin(config.epoch, this.lastSeq + 1);
      this.syncPeers(config, now, effects);
    }
    return effects;
  }

  private setInSync(inSync: readonly MemberId[]): void {
    this.inSyncSet = new Set(inSync);
    this.inSyncOthers = [...this.inSyncSet].filter((m) => m !== this.self);
    this.updateLeasePeers();
  }

  private updateLeasePeers(): void {
    const peers = new Set(this.inSyncOthers);
    for (const peer of this.peerList) if (peer.vouched) peers.add(peer.id);
    this.leasePeersValue = [...peers];
  }

  /**
   * The table took this node's copy away (a move, a drain, lost copies): its memory goes back
   * to the node's budget. It becomes an empty copy at seq 0, the empty prefix every replica
   * shares, so if the partition comes back here the primary rebuilds it in full instead of
   * resuming from what this node kept.
   */
  private dropCopy(): void {
    const old = this.storeValue;
    this.storeValue = new PartitionStore(this.storeOptions);
    old.clear();
    this.log.reset(1);
    this.history.replace([], 0);
  }

  /** Creates a peer for every backup and in-sync member new to the table; probes them. */
  private syncPeers(config: ReplicaConfig, now: number, effects: Effects): void {
    const members = new Set([...config.backups, ...config.inSync]);
    members.delete(this.self);
    for (const id of [...this.peers.keys()]) if (!members.has(id)) this.peers.delete(id);
    this.peerList = [...this.peers.values()];
    this.updateLeasePeers();
    for (const id of members) {
      if (this.peers.has(id)) continue;
      const peer: Peer = {
        id,
        confirmed: false,
        ackedSeq: 0,
        // Optimistic, as Raft's nextIndex: most backups are current, and the answer to
        // this first (possibly empty) append tells the primary where a backup really is.
        sentSeq: this.lastSeq,
        lastSendAt: now,
        waitingSince: now,
        lastCaughtUpReportAt: null,
        vouched: false,
        transfer: null,
        holdFrom: null,
      };
      this.peers.set(id, peer);
      this.peerList.push(peer);
      this.sendAppend(peer, this.lastSeq + 1, effects);
    }
  }

  // ---- client commands -------------------------------------------------------------------

  execute(
    requestId: RequestId,
    command: Command,
    now: number,
    id?: IdempotencyId,
    durability: Durability = 'sync',
  ): Effects {
    this.advance(now);
    const effects = emptyEffects();
    if (
      this.roleValue === 'primary' &&
      durability === 'sync' &&
      command.op !== 'get' &&
      command.op !== 'ttl' &&
      this.inSyncSet.size >= this.minInSync &&
      this.pending.length < this.pendingWritesMax
    ) {
      // The common case, the same steps as below without the checks that refuse it.
      this.executeSyncWrite(requestId, command, now, id, effects);
      return effects;
    }
    const reply = (outcome: Outcome): Effects => {
      effects.replies.push({ requestId, outcome });
      return effects;
    };
    if (this.roleValue !== 'primary') {
      return reply({
        ok: false,
        code: ErrorCode.NOT_PRIMARY,
        message: `${this.self} is not the primary of partition ${this.partition}`,
        meta: { partition: this.partition, epoch: this.epochValue },
      });
    }
    if (command.op === 'get' || command.op === 'ttl') {
      const outcome = this.storeValue.execute(command, now).outcome;
      // See "Why a read never shows a write a failover can take back".
      if (this.pending.length === 0 && this.heldByInSync(this.lastSeq)) return reply(outcome);
      if (this.pending.length >= this.pendingWritesMax) {
        return reply(
          this.unavailable(
            `partition ${this.partition} has ${this.pending.length} replies waiting for ` +
              'backups (pendingWritesMax)',
          ),
        );
      }
      this.pending.push({ requestId, outcome, seq: this.lastSeq, read: true, at: now });
      return effects;
    }
    if (this.inSyncSet.size < this.minInSync) {
      return reply(
        this.unavailable(
          `partition ${this.partition} has ${this.inSyncSet.size} in-sync replicas, ` +
            `fewer than minInSync ${this.minInSync}`,
        ),
      );
    }
    if (durability === 'sync' && this.pending.length >= this.pendingWritesMax) {
      return reply(
        this.unavailable(
          `partition ${this.partition} has ${this.pending.length} sync writes waiting for ` +
            'backups (pendingWritesMax)',
        ),
      );
    }
    if (durability === 'async') {
      const execution =
        id === undefined
          ? this.storeValue.execute(command, now)
          : this.storeValue.execute(command, now, id);
      this.appendLocal(execution.mutations, now);
      return reply(execution.outcome);
    }
    this.executeSyncWrite(requestId, command, now, id, effects);
    return effects;
  }

  private executeSyncWrite(
    requestId: RequestId,
    command: Command,
    now: number,
    id: IdempotencyId | undefined,
    effects: Effects,
  ): void {
    const execution =
      id === undefined
        ? this.storeValue.execute(command, now)
        : this.storeValue.execute(command, now, id);
    this.appendLocal(execution.mutations, now);
    // A write with no mutations (refused, or a retry answered from memory) still waits for
    // everything before it: a remembered result must not be acknowledged before the write
    // it remembers is on every in-sync replica.
    const last = execution.mutations[execution.mutations.length - 1];
    this.pending.push({
      requestId,
      outcome: execution.outcome,
      seq: last === undefined ? this.lastSeq : last.seq,
      at: now,
    });
    this.release(effects);
  }

  /** Reclaims expired entries on the primary; their deletes replicate like writes. */
  reclaimExpired(now: number, max: number): Effects {
    this.advance(now);
    if (this.roleValue !== 'primary') return emptyEffects();
    this.appendLocal(this.storeValue.reclaimExpired(now, max), now);
    return emptyEffects();
  }

  private appendLocal(mutations: readonly Mutation[], now: number): void {
    if (mutations.length === 0) return;
    if (this.peers.size === 0) {
      // No backup to feed: keeping a backlog would only hold overwritten values alive. A
      // backup added later starts from a snapshot when the backlog does not reach back.
      this.log.reset(mutations[mutations.length - 1]!.seq + 1);
      return;
    }
    // The few backups of a partition: a scan per write batch costs less than keeping a min.
    let keepFrom = Infinity;
    for (const peer of this.peerList) {
      peer.waitingSince ??= now;
      const hold = peer.holdFrom;
      // A seq already gone (the transfer passed the hard bound) holds nothing for the others.
      if (hold !== null && hold < keepFrom && this.log.holds(hold)) keepFrom = hold;
    }
    this.log.push(mutations, keepFrom);
  }

  /**
   * The backlog exists to resend what a backup has not acknowledged; what every backup
   * acknowledged can go, so a healthy partition keeps only its writes in flight.
   */
  private trimAcknowledged(): void {
    let min = Infinity;
    for (const peer of this.peerList) {
      if (!peer.confirmed || peer.transfer !== null || peer.holdFrom !== null) return;
      min = Math.min(min, peer.ackedSeq);
    }
    if (min !== Infinity) this.log.trimBefore(min + 1);
  }

  /** One append per backup with everything it has not been sent yet. */
  flush(): Effects {
    const effects = emptyEffects();
    if (this.roleValue !== 'primary') return effects;
    for (const peer of this.peerList) {
      if (peer.transfer !== null || peer.sentSeq >= this.lastSeq) continue;
      this.sendAppend(peer, peer.sentSeq + 1, effects);
    }
    return effects;
  }

  /**
   * Sends `peer` the stream from `from` (bounded; the rest follows on the next flush or ack),
   * or starts a state transfer when the backlog no longer reaches back that far.
   */
  private sendAppend(peer: Peer, from: number, effects: Effects): void {
    if (!this.log.holds(from)) {
      this.startTransfer(peer, effects);
      return;
    }
    const mutations = this.log.slice(from, this.appendMutationsMax, this.appendBytesMax);
    const to = from + mutations.length - 1;
    effects.send.push({
      to: peer.id,
      message: {
        type: 'append',
        partition: this.partition,
        epoch: this.epochValue,
        fromSeq: from,
        history: this.history.slice(from - 1, Math.max(to, from - 1)),
        mutations,
      },
    });
    peer.sentSeq = Math.max(peer.sentSeq, to);
    peer.lastSendAt = this.now;
  }

  // ---- messages ---------------------------------------------------------------------------

  receive(from: MemberId, message: ReplicationMessage, now: number): Effects {
    this.advance(now);
    const effects = emptyEffects();
    // Another partition's message is a routing bug upstream; an old epoch's is expected
    // after a failover and refused; a newer one waits until the control plane tells us.
    if (message.partition !== this.partition || message.epoch !== this.epochValue) return effects;
    switch (message.type) {
      case 'append':
        if (this.roleValue === 'backup' && from === this.primaryId) {
          this.onAppend(message, effects);
        }
        break;
      case 'snapshot':
        if (this.roleValue === 'backup' && from === this.primaryId) {
          this.onSnapshot(message, effects);
        }
        break;
      case 'ack': {
        const peer = this.peerFor(from);
        if (peer !== undefined) this.onAck(peer, message, effects);
        break;
      }
      case 'snapshotAck': {
        const peer = this.peerFor(from);
        if (peer !== undefined) this.onSnapshotAck(peer, message, effects);
        break;
      }
    }
    return effects;
  }

  private peerFor(from: MemberId): Peer | undefined {
    return this.roleValue === 'primary' ? this.peers.get(from) : undefined;
  }

  private ack(effects: Effects, extra: { behind?: boolean; needSnapshot?: boolean } = {}): void {
    if (this.primaryId === null) return;
    const seq = this.lastSeq;
    effects.send.push({
      to: this.primaryId,
      message: {
        type: 'ack',
        partition: this.partition,
        epoch: this.epochValue,
        seq,
        lastEpoch: this.history.epochAt(seq),
        ...extra,
      },
    });
  }

  /** Backup: apply the append if it continues this store (see "What a backup sees"). */
  private onAppend(
    message: Extract<ReplicationMessage, { type: 'append' }>,
    effects: Effects,
  ): void {
    const s = this.lastSeq;
    const to = message.fromSeq + message.mutations.length - 1;
    if (this.incoming !== null) {
      // A transfer is under way; the stream follows it. Only an append beyond the snapshot's
      // seq that continues this store says otherwise: the primary sends none during a
      // transfer, so it ended it (an ack from before the chunks showed this copy current)
      // and will send no more chunks. Waiting for them would ignore the stream for good.
      const ended =
        to > this.incoming.seq &&
        s >= message.fromSeq - 1 &&
        s <= to &&
        sameWriter(this.history.epochAt(s), epochAt(message.history, s));
      if (!ended) return;
      this.incoming = null;
    }
    if (s < message.fromSeq - 1) {
      this.ack(effects, { behind: true });
      return;
    }
    if (s > to) {
      // Ahead of this message: a duplicate, or a store the primary never had. The primary
      // checks our position against its history and decides.
      this.ack(effects);
      return;
    }
    if (!sameWriter(this.history.epochAt(s), epochAt(message.history, s))) {
      this.followsPrimary = false;
      this.ack(effects, { needSnapshot: true });
      return;
    }
    // Same writer at this copy's last seq: it is a prefix of the primary's.
    this.followsPrimary = true;
    const fresh = message.mutations.slice(s - message.fromSeq + 1);
    if (fresh.length > 0) {
      this.storeValue.apply(
        this.plantedBug === 'backupDropsExpiry' ? fresh.map(withoutExpiry) : fresh,
      );
      this.history.extend(message.history, s + 1, to);
      if (this.otherBackups === 0) {
        // The only copy besides the primary. Promoted, its one peer is the old primary,
        // which wrote every seq this copy holds: it is level with it or ahead (diverged),
        // never behind, so there is nothing to resend to it and the tail would be unused.
        this.log.reset(to + 1);
      } else {
        // A backup cannot know what the other copies hold, so it never trims by acks; it
        // keeps a short tail, enough to resume a copy that was barely behind should it be
        // promoted. Anything older is a state transfer. The tail outlives the frame the
        // values came in, so it keeps copies of them (a view would pin the whole frame).
        this.log.push(fresh.map(ownedMutation));
        this.log.keepNewest(backupLogMutationsMax, backupLogBytesMax);
      }
    }
    this.ack(effects);
  }

  /** Backup: collect a chunk; install the snapshot after the last one. */
  private onSnapshot(
    message: Extract<ReplicationMessage, { type: 'snapshot' }>,
    effects: Effects,
  ): void {
    const primary = this.primaryId as MemberId;
    const chunkAck = (chunk: number): void => {
      effects.send.push({
        to: primary,
        message: {
          type: 'snapshotAck',
          partition: this.partition,
          epoch: this.epochValue,
          seq: message.seq,
          chunk,
        },
      });
    };
    let incoming = this.incoming;
    // A first chunk starts a transfer, unless it is a late copy of an older one (the network
    // duplicated or delayed it): installing that again would take this copy back to its seq,
    // below writes it has acknowledged since (simulator seed 1013). A late chunk is then
    // answered as any chunk of a transfer not under way, below. So is a chunk at or below a
    // seq this copy took from this epoch's primary: it holds the primary's state at the
    // snapshot's seq already (same writer, same prefix), and the primary, which ended that
    // transfer on an ack showing as much, has counted later writes as held here.
    const late =
      message.seq <= this.installedSnapshotSeq ||
      (incoming !== null && message.seq < incoming.seq) ||
      (message.seq <= this.lastSeq && this.history.epochAt(this.lastSeq) === this.epochValue);
    if (message.chunk === 0 && !late && (incoming === null || incoming.seq !== message.seq)) {
      incoming = { seq: message.seq, nextChunk: 0, entries: [], clients: [] };
      this.incoming = incoming;
      // The primary did not accept this copy's position: it is replacing it.
      this.followsPrimary = false;
    }
    if (incoming === null || incoming.seq !== message.seq) {
      if (this.lastSeq >= message.seq) {
        // Most likely the last chunk again, after the install: say where we are, which
        // ends the primary's transfer if its ack was lost.
        this.ack(effects);
      } else {
        // A chunk of a transfer whose beginning we do not hold: ask to start over.
        chunkAck(-1);
      }
      return;
    }
    if (message.chunk < incoming.nextChunk) {
      chunkAck(message.chunk);
      return;
    }
    if (message.chunk > incoming.nextChunk) return; // a gap: the primary resends on tick
    for (const e of message.entries) incoming.entries.push(e);
    for (const c of message.remembered) incoming.clients.push(c);
    incoming.nextChunk++;
    if (!message.last) {
      chunkAck(message.chunk);
      return;
    }
    const old = this.storeValue;
    this.storeValue = rebuildStore(
      this.storeOptions,
      incoming.seq,
      incoming.entries,
      incoming.clients,
    );
    // The old copy's memory goes back to the node's budget.
    old.clear();
    this.history.replace(message.history, incoming.seq);
    this.log.reset(incoming.seq + 1);
    this.incoming = null;
    this.installedSnapshotSeq = incoming.seq;
    this.followsPrimary = true;
    this.ack(effects);
  }

  /** Primary: a backup says where it stands. */
  private onAck(
    peer: Peer,
    message: Extract<ReplicationMessage, { type: 'ack' }>,
    effects: Effects,
  ): void {
    const vouched =
      message.needSnapshot !== true &&
      message.seq <= this.lastSeq &&
      sameWriter(this.history.epochAt(message.seq), message.lastEpoch);
    if (peer.transfer !== null) {
      // Only the ack that follows the installed snapshot ends a transfer; anything else is
      // from before it began.
      if (!vouched || message.seq < peer.transfer.snapshot.seq) return;
      peer.transfer = null;
      peer.confirmed = false;
    }
    if (!vouched) {
      this.startTransfer(peer, effects);
      return;
    }
    const before = peer.ackedSeq;
    if (!peer.confirmed) {
      peer.confirmed = true;
      peer.ackedSeq = message.seq;
      peer.sentSeq = message.seq;
    } else {
      peer.ackedSeq = Math.max(peer.ackedSeq, message.seq);
      if (message.behind === true) peer.sentSeq = peer.ackedSeq;
      peer.sentSeq = Math.max(peer.sentSeq, peer.ackedSeq);
    }
    if (peer.ackedSeq >= this.lastSeq) peer.waitingSince = null;
    else if (peer.ackedSeq > before) peer.waitingSince = this.now; // progress is not lag
    if (peer.holdFrom !== null) {
      peer.holdFrom = peer.ackedSeq >= this.lastSeq ? null : peer.ackedSeq + 1;
    }
    this.trimAcknowledged();
    this.release(effects);
    if (peer.sentSeq < this.lastSeq) this.sendAppend(peer, peer.sentSeq + 1, effects);
    this.reportCaughtUp(peer, effects);
  }

  private onSnapshotAck(
    peer: Peer,
    message: Extract<ReplicationMessage, { type: 'snapshotAck' }>,
    effects: Effects,
  ): void {
    const transfer = peer.transfer;
    if (transfer === null || message.seq !== transfer.snapshot.seq) return;
    if (message.chunk === -1) {
      // The backup lost the start of the transfer (its epoch or a stray append reset it).
      transfer.ackedChunk = -1;
      transfer.sentChunk = -1;
    } else if (message.chunk > transfer.ackedChunk) {
      transfer.ackedChunk = message.chunk;
      peer.waitingSince = this.now; // a transfer making progress is not lagging
    }
    this.sendChunks(peer, transfer, effects);
  }

  private startTransfer(peer: Peer, effects: Effects): void {
    const snapshot = captureSnapshot(this.storeValue, this.chunkEntriesMax, this.chunkBytesMax);
    const transfer: Transfer = {
      snapshot,
      history: this.history.slice(0, snapshot.seq),
      ackedChunk: -1,
      sentChunk: -1,
      lastSendAt: this.now,
    };
    peer.transfer = transfer;
    peer.holdFrom = snapshot.seq + 1;
    peer.confirmed = false;
    peer.waitingSince ??= this.now;
    this.sendChunks(peer, transfer, effects);
  }

  /** Sends chunks after the last acknowledged one, up to the in-flight window. */
  private sendChunks(peer: Peer, transfer: Transfer, effects: Effects): void {
    const chunks = transfer.snapshot.chunks;
    const until = Math.min(chunks.length - 1, transfer.ackedChunk + this.chunksInFlightMax);
    for (let i = Math.max(transfer.sentChunk, transfer.ackedChunk) + 1; i <= until; i++) {
      const chunk = chunks[i] as (typeof chunks)[number];
      const last = i === chunks.length - 1;
      effects.send.push({
        to: peer.id,
        message: {
          type: 'snapshot',
          partition: this.partition,
          epoch: this.epochValue,
          seq: transfer.snapshot.seq,
          chunk: i,
          last,
          entries: chunk.entries,
          remembered: chunk.clients,
          history: last ? transfer.history : [],
        },
      });
      transfer.sentChunk = i;
      transfer.lastSendAt = this.now;
    }
  }

  /** Answers the sync writes at the head of the queue that every in-sync member holds. */
  private release(effects: Effects): void {
    const pending = this.pending;
    let released = 0;
    while (released < pending.length) {
      const head = pending[released] as PendingWrite;
      if (!this.heldByInSync(head.seq)) break;
      effects.replies.push({ requestId: head.requestId, outcome: head.outcome });
      released++;
    }
    if (released === 0) return;
    // In place: the queue is released on every ack, and a copy each time was garbage.
    pending.copyWithin(0, released);
    pending.length -= released;
  }

  private heldByInSync(seq: number): boolean {
    if (this.plantedBug === 'ackBeforeBackups') return true;
    const members = this.inSyncOthers;
    for (let i = 0; i < members.length; i++) {
      const peer = this.peers.get(members[i]!);
      if (peer === undefined || !peer.confirmed || peer.ackedSeq < seq) return false;
    }
    for (const peer of this.peerList) {
      if (peer.vouched && peer.ackedSeq < seq) return false;
    }
    return true;
  }

  private reportCaughtUp(peer: Peer, effects: Effects): void {
    if (this.inSyncSet.has(peer.id) || !peer.confirmed || peer.transfer !== null) return;
    if (peer.ackedSeq < this.lastSeq) return;
    // Reported once, and again every ackTimeoutMs until the table says it is in sync: the
    // runtime may lose a report, and Raft should not be asked every ack.
    if (
      peer.lastCaughtUpReportAt !== null &&
      this.now - peer.lastCaughtUpReportAt < this.ackTimeoutMs
    ) {
      return;
    }
    peer.lastCaughtUpReportAt = this.now;
    if (!peer.vouched) {
      peer.vouched = true;
      this.updateLeasePeers();
    }
    (effects.caughtUp ??= []).push({ node: peer.id, epoch: this.epochValue });
  }

  // ---- time -------------------------------------------------------------------------------

  /** Resends what was not acknowledged in time; reports lagging and caught-up backups. */
  tick(now: number): Effects {
    this.advance(now);
    const effects = emptyEffects();
    if (this.roleValue !== 'primary') return effects;
    const lagging: MemberId[] = [];
    for (const peer of this.peerList) {
      const transfer = peer.transfer;
      if (transfer !== null) {
        if (now - transfer.lastSendAt >= this.resendMs) {
          transfer.sentChunk = transfer.ackedChunk;
          this.sendChunks(peer, transfer, effects);
        }
      } else if (now - peer.lastSendAt >= this.resendMs) {
        if (!peer.confirmed) {
          this.sendAppend(peer, this.lastSeq + 1, effects); // probe again
        } else if (peer.ackedSeq < this.lastSeq) {
          peer.sentSeq = peer.ackedSeq;
          this.sendAppend(peer, peer.ackedSeq + 1, effects);
        }
      }
      if (
        (this.inSyncSet.has(peer.id) || peer.vouched) &&
        peer.waitingSince !== null &&
        now - peer.waitingSince > this.ackTimeoutMs
      ) {
        lagging.push(peer.id);
      }
      this.reportCaughtUp(peer, effects);
    }
    if (lagging.length > 0) effects.lagging = lagging;
    return effects;
  }

  private advance(now: number): void {
    assert(Number.isFinite(now), 'now must be a finite number of milliseconds');
    if (now > this.now) this.now = now;
  }

  private unavailable(message: string): Outcome {
    return {
      ok: false,
      code: ErrorCode.UNAVAILABLE,
      message,
      meta: { partition: this.partition, epoch: this.epochValue },
    };
  }
}
