/**
 * The data plane of one node: the partitions it holds, and how a client's request reaches
 * the right one.
 *
 * Every key belongs to one of a fixed number of partitions (core/keys.ts). The control
 * plane's table says, per partition and epoch, which member is primary and which hold
 * backups; the data plane keeps one PartitionReplica per partition and configures each from
 * the table. A keyed request goes to its partition's replica: the primary executes it and
 * replicates its mutations (partition-replica.ts); any other node answers NOT_PRIMARY with
 * the partition, the epoch and the address it believes is primary, so the client refreshes
 * its table and goes there.
 *
 * A read that allows any replica (`readFrom: 'any'`) may be stale. A backup answers it from
 * its own copy only when (1) the table counts it in the in-sync set (a copy still being
 * built may not hold a key at all), (2) this epoch's primary has confirmed its position: the
 * backup took an append of this epoch's primary that continues its copy, or installed a
 * transfer from it, so its copy is a prefix of the primary's, and (3) no transfer to it is
 * under way (PartitionReplica.answersAnyReads). Any other copy answers like a non-primary,
 * NOT_PRIMARY, and the client goes to the primary. Without (2) and (3), a diverged copy (an
 * old primary that held writes its successor never had, now a backup awaiting a transfer)
 * showed those writes, never acknowledged, until the transfer rolled them back. The rule
 * does not make such a read wait for acknowledgements: a confirmed backup may show a write
 * of the current primary still in flight to the other copies, which a failover before it is
 * acknowledged can take back. Only a read at the primary waits for the in-sync set.
 *
 * A primary serves only while it holds a lease from every copy that could be promoted over
 * it (PartitionReplica.leasePeers), and a new primary serves only once no node can still
 * hold a grant from it made before the change (leases.ts): that is what keeps a deposed
 * primary from answering from its old copy.
 *
 * The data plane is pure: it takes requests, replication messages and `now` (a monotonic
 * reading of the wall clock), and returns Effects (replies, messages to send, reports for
 * the control plane). The runtime feeds it and carries out the effects.
 */
import { ErrorCode } from '../core/errors.js';
import { partitionOf } from '../core/keys.js';
import { assert } from '../core/assert.js';
import type { PlantedBug } from '../core/planted-bug.js';
import { MemoryBudget, ValueArena } from '../store/index.js';
import type { Command, IdempotencyId } from '../store/index.js';
import {
  PartitionReplica,
  type Durability,
  type Effects,
  type MemberId,
} from './partition-replica.js';
import { LeaseTable, leaseOptions } from './leases.js';
import { mutationBytes } from './replication-log.js';
import type { PeerDataMessage, PeerSingleMessage } from '../protocol/replication-messages.js';

/**
 * A primary's lease, in ms: the longest it serves after its copies last vouched for it.
 * Eight of the default 50 ms ticks, so a few lost pings or a GC pause do not interrupt
 * service, and short enough to end well inside the default 600 ms failure timeout, so a
 * failover never waits for it.
 */
export const leaseMsDefault = 400;

/**
 * Bounds on one batch (see batchByDestination): the approximate bytes of one append
 * (partition-replica.ts appendBytesMax, 1 MiB), so a batch fits a frame wherever an append
 * does, and a message count far above a flush's (one append per partition and backup).
 */
const batchBytesMax = 1024 * 1024;
const batchMessagesMax = 4_096;
/** What a message other than an append is counted as: its numbers and field names. */
const messageBytesFixed = 64;

/** Approximate encoded bytes of a message, in the replication log's measure. */
function messageBytes(message: PeerSingleMessage): number {
  if (message.type !== 'append') return messageBytesFixed;
  let bytes = messageBytesFixed;
  for (const m of message.mutations) bytes += mutationBytes(m);
  return bytes;
}

/**
 * The replication stream is batched per destination node (DESIGN.md section 4): the messages
 * of one input (a flush, a received batch, a tick) for one node leave as one `batch`, not one
 * message per partition, so a turn whose writes fall in many partitions still costs one
 * encoding, one frame and one decoding per backup, and its acks one per primary. Order per
 * destination is kept. A snapshot chunk, already up to a frame's worth, travels alone.
 * Batches among the sends are opened up and their messages batched again with the rest, so
 * the runtime can batch a whole turn's sends (several inputs' effects) the same way.
 */
export function batchByDestination(sends: PlaneEffects['send']): PlaneEffects['send'] {
  if (sends.length < 2) return sends;
  const open = new Map<MemberId, { messages: PeerSingleMessage[]; bytes: number }>();
  const out: PlaneEffects['send'] = [];
  const close = (to: MemberId): void => {
    const batch = open.get(to);
    if (batch === undefined) return;
    open.delete(to);
    const [first] = batch.messages;
    out.push({
      to,
      message: batch.messages.length === 1 ? first! : { type: 'batch', messages: batch.messages },
    });
  };
  const add = (to: MemberId, message: PeerSingleMessage): void => {
    if (message.type === 'snapshot') {
      close(to);
      out.push({ to, message });
      return;
    }
    const bytes = messageBytes(message);
    let batch = open.get(to);
    if (
      batch !== undefined &&
      (batch.messages.length >= batchMessagesMax || batch.bytes + bytes > batchBytesMax)
    ) {
      close(to);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = { messages: [], bytes: 0 };
      open.set(to, batch);
    }
    batch.messages.push(message);
    batch.bytes += bytes;
  };
  for (const { to, message } of sends) {
    if (message.type !== 'batch') add(to, message);
    else for (const one of message.messages) add(to, one);
  }
  for (const to of [...open.keys()]) close(to);
  return out;
}

export interface DataPlaneOptions {
  readonly nodeId: string;
  /** The address clients reach this node at, `host:port`. */
  readonly address: string;
  readonly partitionCount: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  /** The node's memory limit for entries, in bytes; Infinity for none. */
  readonly memoryLimitBytes: number;
  /** Replicas that must be in sync for a write to be accepted. Default 1. */
  readonly minInSync?: number;
  /** A primary's lease in ms (leases.ts). Default leaseMsDefault. */
  readonly leaseMs?: number;
  /**
   * Fenced: a primary also needs the control-plane leader's grant to serve, so that it stops
   * once it is cut off from the majority, and `accept-loss` on the majority cannot make a
   * second primary (control/leader-grant.ts). `leaderGrantUntil` reads the grant's end.
   */
  readonly fence?: { readonly leaderGrantUntil: () => number };
  /** Test-only (core/planted-bug.ts): a deliberate bug for the simulator to catch. */
  readonly plantedBug?: PlantedBug;
}

/** A partition's placement as the control plane's table gives it. */
export interface PartitionPlacement {
  readonly epoch: number;
  readonly primary: string | null;
  readonly backups: readonly string[];
  readonly inSync: readonly string[];
}

export interface TableView {
  readonly epoch: number;
  readonly partitionCount: number;
  readonly nodes: readonly { readonly id: string; readonly address: string }[];
  readonly primaries: readonly number[];
}

/** Effects, with each report naming its partition, and lease traffic among the messages. */
export interface PlaneEffects extends Omit<Effects, 'send' | 'caughtUp' | 'lagging'> {
  send: { to: MemberId; message: PeerDataMessage }[];
  reports: { caughtUp: PartitionReport[]; lagging: PartitionReport[] };
}

export interface PartitionReport {
  readonly partition: number;
  readonly node: string;
  readonly epoch: number;
}

const writeOps: ReadonlySet<Command['op']> = new Set(['set', 'delete', 'touch', 'cas', 'patch']);

export function isWrite(command: Command): boolean {
  return writeOps.has(command.op);
}

function noEffects(): PlaneEffects {
  return { replies: [], send: [], reports: { caughtUp: [], lagging: [] } };
}

export class DataPlane {
  readonly nodeId: string;
  readonly address: string;
  readonly partitionCount: number;
  readonly budget: MemoryBudget;
  private readonly replicas: PartitionReplica[] = [];
  private readonly primaryAddresses: string[] = [];
  private readonly primaries: (string | null)[] = [];
  private readonly epochs: number[] = [];
  /**
   * Per partition: whether the table counts this node's copy in the in-sync set. Only such a
   * copy answers a read that allows any replica: one still being built may lack any key.
   */
  private readonly inSyncHere: boolean[] = [];
  /** Per partition: the table version that made this node primary, until that settles. */
  private readonly unsettledSince: number[] = [];
  /** When this node last refused a request of the partition for want of a lease. */
  private readonly refusedForLeaseAt: number[] = [];
  private readonly leases: LeaseTable;
  private readonly leaseMs: number;
  private tableVersion = 0;
  private sweepCursor = 0;
  /**
   * Partitions with writes not yet flushed to their backups, in the order of their first
   * write, and a flag per partition. A Set here grew its table from empty turn after turn.
   */
  private readonly dirty: number[] = [];
  private readonly isDirty: Uint8Array;
  private readonly plantedBug: PlantedBug | undefined;
  private readonly fence: DataPlaneOptions['fence'];

  constructor(options: DataPlaneOptions) {
    assert(
      Number.isInteger(options.partitionCount) && options.partitionCount > 0,
      () => `partitionCount must be a positive integer, got ${options.partitionCount}`,
    );
    this.nodeId = options.nodeId;
    this.address = options.address;
    this.partitionCount = options.partitionCount;
    this.isDirty = new Uint8Array(options.partitionCount);
    this.budget = new MemoryBudget(options.memoryLimitBytes);
    this.leaseMs = options.leaseMs ?? leaseMsDefault;
    this.leases = new LeaseTable(leaseOptions(this.leaseMs));
    this.plantedBug = options.plantedBug;
    this.fence = options.fence;
    // One arena for every partition of the node, as one budget: a size class's chunks serve
    // all of them, so 256 partitions do not each hold a partly filled chunk per size.
    const arena = new ValueArena();
    for (let p = 0; p < options.partitionCount; p++) {
      this.replicas.push(
        new PartitionReplica({
          self: options.nodeId,
          store: {
            partition: p,
            budget: this.budget,
            arena,
            keyBytesMax: options.keyBytesMax,
            valueBytesMax: options.valueBytesMax,
          },
          ...(options.minInSync !== undefined && { minInSync: options.minInSync }),
          ...(options.plantedBug !== undefined && { plantedBug: options.plantedBug }),
        }),
      );
      // Nothing is served until the control plane's first table arrives.
      this.primaries.push(null);
      this.primaryAddresses.push('');
      this.epochs.push(0);
      this.inSyncHere.push(false);
      this.unsettledSince.push(0);
      this.refusedForLeaseAt.push(-Infinity);
    }
  }

  get epoch(): number {
    return this.tableVersion;
  }

  /** The member this node's table names primary of `partition`, or null for none. */
  primaryOf(partition: number): string | null {
    return this.primaries[partition] ?? null;
  }

  /**
   * Installs the control plane's partition table (`version` increases with every change).
   * `addressOf` maps member ids to their client addresses.
   */
  applyTable(
    version: number,
    table: readonly PartitionPlacement[],
    addressOf: (memberId: string) => string | undefined,
    now: number,
  ): PlaneEffects {
    assert(
      table.length === this.partitionCount,
      () => `table has ${table.length} partitions, the node ${this.partitionCount}`,
    );
    const effects = noEffects();
    if (version < this.tableVersion) return effects;
    this.tableVersion = version;
    const peers = new Set<MemberId>();
    table.forEach((placement, p) => {
      const address = placement.primary === null ? undefined : addressOf(placement.primary);
      this.primaries[p] = address === undefined ? null : placement.primary;
      this.primaryAddresses[p] = address ?? '';
      this.epochs[p] = placement.epoch;
      const role =
        placement.primary === this.nodeId
          ? 'primary'
          : placement.backups.includes(this.nodeId)
            ? 'backup'
            : 'none';
      const replica = this.replicas[p]!;
      // A node that led the epoch just before this one has nobody's old grants to wait out:
      // no other node was primary in between (epochs go up by one per change).
      if (
        role === 'primary' &&
        (replica.role !== 'primary' || replica.epoch < placement.epoch - 1)
      ) {
        this.unsettledSince[p] = version;
      }
      const others = new Set([...placement.backups, ...placement.inSync]);
      others.delete(this.nodeId);
      this.inSyncHere[p] = placement.inSync.includes(this.nodeId);
      if (role !== 'none') {
        for (const peer of others) peers.add(peer);
        if (placement.primary !== null && placement.primary !== this.nodeId) {
          peers.add(placement.primary);
        }
      }
      this.merge(
        effects,
        p,
        this.replicas[p]!.configure(
          {
            epoch: placement.epoch,
            role,
            primary: placement.primary,
            inSync: placement.inSync,
            backups: placement.backups,
          },
          now,
        ),
      );
    });
    this.leases.setPeers(peers, now);
    effects.send = batchByDestination(effects.send);
    return effects;
  }

  /**
   * Whether this node, as primary of `partition`, may serve it now: it holds a grant from
   * every copy that could be promoted over it, and no node can still hold a grant from it
   * older than its promotion.
   */
  private leaseHeld(partition: number, now: number): boolean {
    const since = this.unsettledSince[partition]!;
    if (since !== 0) {
      if (!this.leases.settled(since, now)) return false;
      this.unsettledSince[partition] = 0;
    }
    return this.leases.heldFromAll(this.replicas[partition]!.leasePeers, now);
  }

  /** Answers a request this node, as primary, may not serve now: UNAVAILABLE, and `why`. */
  private unavailable(
    effects: PlaneEffects,
    requestId: number,
    partition: number,
    why: string,
  ): PlaneEffects {
    effects.replies.push({
      requestId,
      outcome: {
        ok: false,
        code: ErrorCode.UNAVAILABLE,
        message: `partition ${partition}: ${this.nodeId} is primary but ${why}`,
        meta: { partition, epoch: this.epochs[partition]! },
      },
    });
    return effects;
  }

  /** Whether the leader grant lets this node serve as a primary: always when not fenced. */
  private granted(now: number): boolean {
    return this.fence === undefined || this.fence.leaderGrantUntil() > now;
  }

  /**
   * Executes a client command on the partition of its key. `id` makes a write idempotent:
   * a retry with the same id is answered, not re-applied. The reply may come in these
   * effects or, for a sync write, in the effects of a later acknowledgement.
   */
  execute(
    requestId: number,
    command: Command,
    now: number,
    options: { id?: IdempotencyId; durability?: Durability; anyReplica?: boolean } = {},
  ): PlaneEffects {
    const partition = partitionOf(command.key, this.partitionCount);
    const replica = this.replicas[partition]!;
    const effects = noEffects();
    const write = isWrite(command);
    if (
      options.anyReplica === true &&
      !write &&
      this.inSyncHere[partition]! &&
      replica.answersAnyReads
    ) {
      // An in-sync backup's own copy, confirmed by this epoch's primary: possibly behind it,
      // which the caller allowed, but holding nothing the primary never had.
      effects.replies.push({ requestId, outcome: replica.store.execute(command, now).outcome });
      return effects;
    }
    if (this.primaries[partition] === null && replica.role !== 'primary') {
      effects.replies.push({
        requestId,
        outcome: {
          ok: false,
          code: ErrorCode.UNAVAILABLE,
          message: `partition ${partition} has no primary now`,
          meta: { partition, epoch: this.epochs[partition]! },
        },
      });
      return effects;
    }
    const leaseSkipped = this.plantedBug === 'readWithoutLease' && !write;
    if (replica.role === 'primary' && !leaseSkipped && !this.leaseHeld(partition, now)) {
      this.refusedForLeaseAt[partition] = now;
      return this.unavailable(
        effects,
        requestId,
        partition,
        'holds no current lease from its copies (they have not confirmed it recently, or a ' +
          'hand-off is settling)',
      );
    }
    if (replica.role === 'primary' && !this.granted(now)) {
      return this.unavailable(
        effects,
        requestId,
        partition,
        'holds no current grant from the control-plane leader (fenced: it may be cut off ' +
          'from the majority)',
      );
    }
    this.merge(
      effects,
      partition,
      replica.execute(
        requestId,
        command,
        now,
        write ? options.id : undefined,
        options.durability ?? 'sync',
      ),
    );
    if (write) this.markDirty(partition);
    return effects;
  }

  /**
   * A message from the peer authenticated as `from`; a batch's messages in order, their
   * answers batched again per destination.
   */
  receive(from: string, message: PeerDataMessage, now: number): PlaneEffects {
    const effects = noEffects();
    if (message.type !== 'batch') {
      this.receiveOne(effects, from, message, now);
      return effects;
    }
    for (const one of message.messages) this.receiveOne(effects, from, one, now);
    effects.send = batchByDestination(effects.send);
    return effects;
  }

  private receiveOne(
    effects: PlaneEffects,
    from: string,
    message: PeerSingleMessage,
    now: number,
  ): void {
    if (message.type === 'leasePing' || message.type === 'leaseEcho') {
      this.leases.receive(from, message, this.tableVersion, now);
      return;
    }
    const replica = this.replicas[message.partition];
    if (replica === undefined) return;
    // A fenced primary whose grant ran out answers nothing as done any more, not even a
    // write its backups acknowledge now: those wait no longer, and are answered in doubt.
    if (replica.role === 'primary' && replica.pendingCount > 0 && !this.granted(now)) {
      this.merge(effects, message.partition, replica.giveUpWaiting(Infinity));
    }
    this.merge(effects, message.partition, replica.receive(from, message, now));
  }

  private markDirty(partition: number): void {
    if (this.isDirty[partition] === 1) return;
    this.isDirty[partition] = 1;
    this.dirty.push(partition);
  }

  /** Sends what the writes since the last flush produced: one batch per backup node. */
  flush(): PlaneEffects {
    const effects = noEffects();
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) {
      const p = dirty[i]!;
      this.isDirty[p] = 0;
      this.merge(effects, p, this.replicas[p]!.flush());
    }
    dirty.length = 0;
    effects.send = batchByDestination(effects.send);
    return effects;
  }

  /**
   * Lease pings, resends, lag detection and catch-up reports; and a primary that lost its
   * lease gives up the replies that have waited longer than a lease (giveUpWaiting).
   */
  tick(now: number): PlaneEffects {
    const effects = noEffects();
    for (const ping of this.leases.pings(this.tableVersion, now)) effects.send.push(ping);
    for (let p = 0; p < this.replicas.length; p++) {
      const replica = this.replicas[p]!;
      // Only a primary has anything to resend or report (PartitionReplica.tick).
      if (replica.role !== 'primary') continue;
      this.merge(effects, p, replica.tick(now));
      if (!this.leaseHeld(p, now)) {
        if (replica.pendingCount > 0) {
          this.merge(effects, p, replica.giveUpWaiting(now - this.leaseMs));
        }
        if (now - this.refusedForLeaseAt[p]! <= replica.ackTimeoutMs) {
          this.reportSilentCopies(p, replica, now, effects);
        }
      } else if (!this.granted(now) && replica.pendingCount > 0) {
        this.merge(effects, p, replica.giveUpWaiting(Infinity));
      }
    }
    effects.send = batchByDestination(effects.send);
    return effects;
  }

  /**
   * Reports lagging the copies that have not vouched for this primary for ackTimeoutMs,
   * while clients are being refused for want of a lease. A primary without a lease takes no
   * write, so a copy cut off from it owes no acknowledgement and would never be reported by
   * its replica: the partition would stay unwritable for as long as the cut lasts, though the
   * leader hears both sides and could take the copy out of sync
   * (a-backup-out-of-sync-does-not-hold-its-primary-back). Only while refusing: an idle
   * partition keeps its in-sync set, and with it a copy to fail over to should this primary
   * die before the cut heals (in the simulator, shrinking idle partitions too left a third
   * more partitions with no in-sync copy at the end).
   */
  private reportSilentCopies(
    partition: number,
    replica: PartitionReplica,
    now: number,
    effects: PlaneEffects,
  ): void {
    for (const peer of replica.leasePeers) {
      if (this.leases.silentFor(peer, now) > replica.ackTimeoutMs) {
        effects.reports.lagging.push({ partition, node: peer, epoch: replica.epoch });
      }
    }
  }

  /**
   * Reclaims expired entries on the partitions this node leads, at most `max` per call,
   * round-robin so that one partition full of expired sessions cannot starve the others.
   * The deletes replicate like writes: backups never expire on their own clock.
   */
  reclaimExpired(now: number, max: number): PlaneEffects {
    const effects = noEffects();
    let budget = max;
    for (let visited = 0; visited < this.partitionCount && budget > 0; visited++) {
      const p = this.sweepCursor;
      this.sweepCursor = (this.sweepCursor + 1) % this.partitionCount;
      const replica = this.replicas[p]!;
      if (replica.role !== 'primary') continue;
      const before = replica.lastSeq;
      this.merge(effects, p, replica.reclaimExpired(now, budget));
      const reclaimed = replica.lastSeq - before;
      if (reclaimed > 0) {
        budget -= reclaimed;
        this.markDirty(p);
      }
    }
    return effects;
  }

  table(): TableView {
    const addresses = new Map<string, number>();
    const nodes: { id: string; address: string }[] = [];
    const primaries: number[] = [];
    for (let p = 0; p < this.partitionCount; p++) {
      const primary = this.primaries[p]!;
      if (primary === null) {
        primaries.push(-1);
        continue;
      }
      let index = addresses.get(primary);
      if (index === undefined) {
        index = nodes.length;
        addresses.set(primary, index);
        nodes.push({ id: primary, address: this.primaryAddresses[p]! });
      }
      primaries.push(index);
    }
    return { epoch: this.tableVersion, partitionCount: this.partitionCount, nodes, primaries };
  }

  /** Entries and bytes held (primary and backup copies alike), for status and metrics. */
  stats(): { entries: number; bytes: number; memoryLimitBytes: number; primaryEntries: number } {
    let entries = 0;
    let bytes = 0;
    let primaryEntries = 0;
    for (const replica of this.replicas) {
      entries += replica.store.size;
      bytes += replica.store.bytes;
      if (replica.role === 'primary') primaryEntries += replica.store.size;
    }
    return { entries, bytes, memoryLimitBytes: this.budget.limitBytes, primaryEntries };
  }

  /** Adds a replica's effects to `into`, naming the partition in its reports and hints. */
  private merge(into: PlaneEffects, partition: number, effects: Effects): void {
    for (const reply of effects.replies) {
      const o = reply.outcome;
      if (!o.ok && o.code === ErrorCode.NOT_PRIMARY && o.meta?.hint === undefined) {
        const hint = this.primaryAddresses[partition];
        into.replies.push(
          hint
            ? {
                requestId: reply.requestId,
                outcome: { ...o, meta: { ...o.meta, partition, hint } },
              }
            : reply,
        );
      } else {
        into.replies.push(reply);
      }
    }
    for (const send of effects.send) into.send.push(send);
    if (effects.caughtUp !== undefined) {
      for (const c of effects.caughtUp) {
        into.reports.caughtUp.push({ partition, node: c.node, epoch: c.epoch });
      }
    }
    if (effects.lagging !== undefined) {
      const epoch = this.epochs[partition]!;
      for (const node of effects.lagging) into.reports.lagging.push({ partition, node, epoch });
    }
  }
}
