/**
 * Starting and stopping a node: the runtime that wires the pure data plane to sockets,
 * timers and the clock. `startNode()` is the same code whether the node runs as a process
 * (`statehouse node`) or embedded in an application.
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { assert } from '../core/assert.js';
import { StatehouseError, ErrorCode } from '../core/errors.js';
import {
  expirySweepEntriesMax,
  expirySweepIntervalMs,
  frameBytesMaxFor,
  peerFrameBytesMaxFor,
  keyBytesMaxDefault,
  partitionCountDefault,
  partitionCountMax,
  valueBytesMaxCeiling,
  valueBytesMaxDefault,
} from '../core/limits.js';
import type { Clock } from '../core/clock.js';
import { SeededRandom } from '../core/random.js';
import {
  batchByDestination,
  DataPlane,
  clockDriftFactor,
  leaseMsDefault,
  type PlaneEffects,
} from '../replication/index.js';
import {
  isBadReplicationMessage,
  parseReplicationMessage,
  parseReplicationReport,
} from '../protocol/replication-messages.js';
import {
  replicationFactorDefault,
  replicationFactorMax,
  settingsInLog,
  type ClusterSettings,
  type ClusterState,
  type ControlCommand,
} from '../control/index.js';
import {
  decodeReply,
  decodeRequest,
  encodeRequest,
  isBadMessage,
  type CommandRequest,
  type Durability,
  type JoinRequest,
  type JoinResult,
} from '../protocol/index.js';
import { partitionOf } from '../core/keys.js';
import type { IdempotencyId, Outcome } from '../store/index.js';
import { parseAddress } from '../core/address.js';
import { requestOnce } from './request-once.js';
import {
  ClientConnection,
  digestToken,
  encodeOutcome,
  type DataAccess,
} from './client-connection.js';
import { ControlPlane, type ClusterStatus } from './control-plane.js';
import { PeerNetwork } from './peer-network.js';
import {
  FileRaftStorage,
  MemoryRaftStorage,
  RaftStorageError,
  type RaftStorage,
} from './raft-storage.js';
import { createLogger, limitedWarn, silentLogger, type Logger, type LogLevel } from './logger.js';
import {
  TableGate,
  applyServedTable,
  deliverEffects,
  forwardTarget,
  type EffectSink,
  type ReportSink,
} from './plane-glue.js';

/** Raft ticks per election timeout: 10 heartbeats fit in one, so a lost one is not an election. */
const electionTimeoutTicks = 10;

/** A client connection's command waiting for the data plane, perhaps to be forwarded. */
interface ClientAsker {
  readonly connection: ClientConnection;
  readonly wireId: number;
  /** Present when the client asked for forwarding (CommandRequest.forward). */
  readonly forward?: { readonly request: CommandRequest; readonly clientId: string };
}

/** A command another node forwarded here: its reply goes back to that peer. */
interface PeerAsker {
  readonly peer: string;
  readonly ref: number;
}

type Asker = ClientAsker | PeerAsker;

export interface NodeOptions {
  /** Interface to listen on. Default `127.0.0.1`: exposing a node is a deliberate choice. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 7400. */
  port?: number;
  /** A stable name for this node. Default: `node-` and 8 random hex digits. */
  id?: string;
  /**
   * Partitions of a new cluster, fixed at creation. Default 256. A node that joins takes the
   * cluster's count from its seeds (waiting for one to answer, up to `joinTimeoutMs`), and a
   * node resumed from `dataDir` the count its log records; given, it must match.
   */
  partitions?: number;
  /** Memory limit for entries, in bytes; writes beyond it get OUT_OF_MEMORY. Default: none. */
  maxMemoryBytes?: number;
  /** Largest key in UTF-8 bytes. Default 1024. */
  keyBytesMax?: number;
  /** Largest encoded value in bytes. Default 1 MiB. */
  valueBytesMax?: number;
  /**
   * When set, clients must present this token in their hello. Without `clusterToken` it is
   * also what the nodes present to each other, and what joins, drains and accept-loss need.
   */
  token?: string;
  /**
   * The secret the nodes share, kept apart from the clients' `token`: when set, only a
   * connection that presents it can act as a node (peer links, joins) or an operator (drain,
   * accept-loss). A client with `token` reads and writes data and reads the status, nothing
   * more. Every node of a cluster must have the same one.
   */
  clusterToken?: string;
  /** A pino logger, or a level for a new one. Default: silent when embedded. */
  logger?: Logger | LogLevel;
  /** The clock for expiry. Default: the wall clock. */
  clock?: Clock;
  /** A new connection must complete its hello within this many ms. Default 5000. */
  handshakeTimeoutMs?: number;
  /**
   * Nodes of an existing cluster to join (`host:port`). Without seeds, a node with no
   * persisted state founds a new cluster of its own.
   */
  seeds?: readonly string[];
  /** Where Raft's log and vote are kept; with it, a restarted node resumes its place. */
  dataDir?: string;
  /** The address peers and clients reach this node at, when not the listen address. */
  advertise?: string;
  /**
   * The local address of the connections this node dials to other nodes (peer links, join and
   * drain requests). Default: the operating system's choice. Set it on a host with several
   * addresses so that peers, firewalls and proxies see one source per node; the chaos run gives
   * each node its own 127.0.0.x and tells the nodes apart by it (scripts/chaos.ts).
   */
  localAddress?: string;
  /** Failure domain (rack, zone): no two copies of a partition share one when enough exist. */
  zone?: string;
  /** Copies of each partition, primary included, for a new cluster. Default 2. */
  replicationFactor?: number;
  /**
   * A member silent this long is declared dead, in ms. Default 600: a failover completes in
   * well under a second; raise it where GC pauses or a loaded network make nodes look dead.
   */
  failureTimeoutMs?: number;
  /**
   * How long a primary serves after its copies last vouched for it, in ms (see
   * replication/leases.ts). Default 400. At most the failure timeout divided by the allowed
   * clock drift (1.2), so that a failover never waits for a lease.
   */
  leaseMs?: number;
  /** Control-plane voters wanted (1, 3 or 5). Default 3. */
  votersMax?: number;
  /** Milliseconds per Raft tick; elections time out after 10 ticks. Default 50. */
  tickMs?: number;
  /**
   * How long to keep asking the seeds (for the partition count, then to join) before giving
   * up, in ms. Default 30000.
   */
  joinTimeoutMs?: number;
  /**
   * Copies (the primary included) that must be in sync for this node, as primary, to accept
   * a write; fewer get UNAVAILABLE instead of a write with fewer copies. Default 1. At most
   * the replication factor: a founder given more refuses to start (BAD_REQUEST); a joiner
   * logs an error once it learns the cluster's smaller factor.
   */
  minInSync?: number;
  /**
   * Fenced: a primary also needs the control-plane leader's grant to serve, so that a node
   * cut off from the majority stops serving within the grant's 2 s, even for partitions whose
   * every in-sync copy is with it; `accept-loss` on the majority is then safe without the
   * operator's word that the old primary's process is gone. The price: such partitions are
   * unwritable for the rest of the cut. Default false (README, *accept-loss*).
   */
  fence?: boolean;
}

export interface StateNode {
  /** The node's name (`--id`). */
  readonly id: string;
  /** Unique per incarnation: `name~incarnation`. */
  readonly memberId: string;
  /** `host:port` the node listens on. */
  readonly address: string;
  readonly port: number;
  /** Entries and bytes held now. */
  /** Entries and bytes held now (copies of every role), entries of the partitions it leads, connections. */
  stats(): {
    entries: number;
    bytes: number;
    memoryLimitBytes: number;
    primaryEntries: number;
    connections: number;
  };
  /** Members, leader, partition summary: what `statehouse status` prints. */
  status(): ClusterStatus;
  /**
   * Leaves the cluster gracefully: the control plane hands this node's primaries to in-sync
   * backups and copies its data elsewhere, then removes it; then the node closes. Clients
   * see no failed request (a write caught in a hand-off is retried by the client with its
   * idempotency id). Resolves once closed. When no other active member can take the data, or
   * after `timeoutMs` (default 30 s), it closes anyway, and says so in the log.
   */
  drain(options?: { timeoutMs?: number }): Promise<void>;
  /** Stops accepting, answers what is pending, closes every connection. Idempotent. */
  close(): Promise<void>;
  /**
   * Settles once the node has closed, whether by close(), a drain, or a failed start. Rejects
   * with DATA_DIR_LOCKED when the node stopped because another process took its data dir.
   */
  readonly closed: Promise<void>;
}

/**
 * The wall clock as it read when the process started, advanced by the monotonic clock. Expiry
 * times are wall-clock instants shared between nodes, so the reading must stay near the wall
 * clock; leases and failure detection measure intervals, so it must never jump. Anchoring once
 * gives both: an operator's `date -s` or an NTP step does not move a running node's time.
 * Whole milliseconds, as Date.now() gives: expiry instants and TTLs reach clients from it.
 */
const wallAtStart = Date.now() - performance.now();
const monotonicWallClock: Clock = { now: () => Math.floor(wallAtStart + performance.now()) };

function checkPositiveInteger(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `${name} must be an integer from 1 to ${max}, got ${value}`,
    );
  }
}

export async function startNode(options: NodeOptions = {}): Promise<StateNode> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 7400;
  const keyBytesMax = options.keyBytesMax ?? keyBytesMaxDefault;
  const valueBytesMax = options.valueBytesMax ?? valueBytesMaxDefault;
  const maxMemoryBytes = options.maxMemoryBytes ?? Infinity;
  const replicationFactor = options.replicationFactor ?? replicationFactorDefault;
  const failureTimeoutMs = options.failureTimeoutMs ?? 600;
  const leaseMs =
    options.leaseMs ?? Math.min(leaseMsDefault, Math.floor(failureTimeoutMs / clockDriftFactor));
  const votersMax = options.votersMax ?? 3;
  const tickMs = options.tickMs ?? 50;
  const seeds = options.seeds ?? [];
  const minInSync = options.minInSync ?? 1;
  checkPositiveInteger('minInSync', minInSync, replicationFactorMax);
  if (options.partitions !== undefined) {
    checkPositiveInteger('partitions', options.partitions, partitionCountMax);
  }
  checkPositiveInteger('keyBytesMax', keyBytesMax, 64 * 1024);
  checkPositiveInteger('valueBytesMax', valueBytesMax, valueBytesMaxCeiling);
  checkPositiveInteger('replicationFactor', replicationFactor, replicationFactorMax);
  checkPositiveInteger('failureTimeoutMs', failureTimeoutMs, 3_600_000);
  checkPositiveInteger('tickMs', tickMs, 10_000);
  checkPositiveInteger('leaseMs', leaseMs, 3_600_000);

  if (leaseMs < 2 * tickMs || leaseMs * clockDriftFactor > failureTimeoutMs) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `leaseMs (${leaseMs}) must be at least two ticks (${2 * tickMs} ms), so one lost ping does ` +
        `not stop a primary, and at most failureTimeoutMs / ${clockDriftFactor} ` +
        `(${Math.floor(failureTimeoutMs / clockDriftFactor)} ms), so a failover never waits for it`,
    );
  }
  if (![1, 3, 5].includes(votersMax)) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `votersMax must be 1, 3 or 5, got ${votersMax}`,
    );
  }
  if (failureTimeoutMs < tickMs * electionTimeoutTicks) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `failureTimeoutMs (${failureTimeoutMs}) must be at least an election timeout (${tickMs * electionTimeoutTicks} ms)`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `port must be an integer from 0 to 65535, got ${port}`,
    );
  }
  if (!(maxMemoryBytes === Infinity || (Number.isInteger(maxMemoryBytes) && maxMemoryBytes > 0))) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `maxMemoryBytes must be a positive integer, got ${maxMemoryBytes}`,
    );
  }
  if (options.token !== undefined && options.token.length === 0) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      'token must not be empty; omit it to run without one',
    );
  }
  if (options.clusterToken !== undefined && options.clusterToken.length === 0) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      'clusterToken must not be empty; omit it to run without one',
    );
  }
  if (options.clusterToken !== undefined && options.clusterToken === options.token) {
    // The same secret in both would let every client act as a node, the split meaning nothing.
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      'clusterToken must differ from token: clients hold token, only nodes and operators clusterToken',
    );
  }
  // What this node presents to other nodes: the cluster's secret, or the one shared token.
  const nodeToken = options.clusterToken ?? options.token;
  for (const seed of seeds) parseAddress(seed);
  // A member record carries the zone and the address; the cluster takes neither empty nor
  // longer than 256 characters (see command-validation), and every client dials the address.
  if (options.zone !== undefined && (options.zone.length === 0 || options.zone.length > 256)) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `zone must be 1 to 256 characters (omit it for no zone), got '${options.zone}'`,
    );
  }
  if (options.advertise !== undefined) {
    try {
      parseAddress(options.advertise);
      if (options.advertise.length > 256) throw new Error('longer than 256 characters');
    } catch {
      throw new StatehouseError(
        ErrorCode.BAD_REQUEST,
        `advertise must be a HOST:PORT of at most 256 characters that others reach this node at, got '${options.advertise}'`,
      );
    }
  }
  // net.connect takes only an IP here, and would fail each dial later, far from the cause.
  if (options.localAddress !== undefined && isIP(options.localAddress) === 0) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `localAddress must be an IP address of this host, e.g. 127.0.0.11; got '${options.localAddress}'`,
    );
  }
  const name = options.id ?? `node-${randomBytes(4).toString('hex')}`;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `id must be 1 to 64 letters, digits, '.', '_' or '-', got '${name}'`,
    );
  }
  const logger =
    typeof options.logger === 'string'
      ? createLogger(options.logger, { node: name })
      : (options.logger?.child({ node: name }) ?? silentLogger);
  const clock = options.clock ?? monotonicWallClock;
  const warnLimited = limitedWarn(logger, () => Date.now());
  // Another process taking the data dir from this node: it must stop acting on the dir at
  // once (the storage refuses writes already), close, and say why: `closed` rejects with it.
  const lockLoss: { error: StatehouseError | null } = { error: null };
  let stopForLockLoss: () => void = () => undefined;
  let rejectOnLockLoss: (error: StatehouseError) => void = () => undefined;
  const lockLost = new Promise<never>((_, reject) => (rejectOnLockLoss = reject));
  lockLost.catch(() => undefined);
  // The data dir is locked before the port is taken, so a second process on it fails fast.
  const storage = openStorage(options.dataDir, (error) => {
    lockLoss.error = new StatehouseError(ErrorCode.DATA_DIR_LOCKED, error.message, {
      cause: error,
    });
    logger.error({ code: ErrorCode.DATA_DIR_LOCKED, err: error }, 'lost the data dir: stopping');
    rejectOnLockLoss(lockLoss.error);
    stopForLockLoss();
  });
  const meta = storage.readMeta();
  const persisted = storage.load();
  if (persisted !== null && meta === null && seeds.length === 0) {
    // The identity is written once the node knows its cluster, before it serves anything:
    // Raft state without it, and no seeds to ask, is a founding that never finished (killed
    // before its bootstrap entry was applied). It could never elect itself again: it would
    // wait out every start. Nothing was ever served from it, so starting afresh loses nothing.
    storage.close();
    throw new StatehouseError(
      ErrorCode.DATA_DIR_CORRUPT,
      `${options.dataDir ?? 'the data dir'} holds the Raft state of a node that never learned ` +
        'its cluster (a founding cut short, or a join, and no --seeds to ask now): nothing ' +
        'was served from it. Remove the data dir and start again, or give the --seeds of the ' +
        'cluster it was joining.',
    );
  }
  if (persisted === null && seeds.length === 0 && minInSync > replicationFactor) {
    // A partition never has more copies in sync than the replication factor: every write to
    // this node's partitions would be refused, for as long as the cluster runs.
    storage.close();
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `minInSync (${minInSync}) must not exceed the replicationFactor (${replicationFactor}) of ` +
        'the cluster this node founds: no partition ever has that many copies in sync, so ' +
        'every write would be refused with UNAVAILABLE',
    );
  }
  // Asking the seeds for the partition count, then to join, shares one deadline.
  const joinDeadline = Date.now() + (options.joinTimeoutMs ?? joinTimeoutMsDefault);
  // A new node takes the count of the cluster it joins. A resumed one serves the count its
  // log records, since its seeds may all be down (the whole cluster restarting); one whose log
  // records none yet (killed before the leader's entries reached it) asks, as a new one does.
  const recorded =
    persisted === null ? null : settingsInLog(persisted.snapshot?.data ?? null, persisted.entries);
  let partitions: number;
  try {
    partitions =
      recorded === null
        ? await Promise.race([
            partitionCountToServe(options.partitions, seeds, {
              stop: lockLoss,
              clientName: `statehouse-node ${name}`,
              token: nodeToken,
              localAddress: options.localAddress,
              deadline: joinDeadline,
            }),
            lockLost,
          ])
        : partitionCountResumed(options.partitions, recorded, options.dataDir);
  } catch (error) {
    storage.close();
    throw error;
  }

  // Half-open: a client that sends its requests and then ends its side still gets every
  // answer (ClientConnection ends the connection once it has answered them).
  const server: Server = createServer({ allowHalfOpen: true });
  try {
    await listen(server, host, port);
  } catch (error) {
    storage.close();
    throw error;
  }
  // Lost while asking the seeds or binding: nothing runs yet but the storage and the server.
  if (lockLoss.error !== null) {
    server.close();
    storage.close();
    throw lockLoss.error;
  }
  const bound = server.address();
  const actualPort = typeof bound === 'object' && bound !== null ? bound.port : port;
  const address = options.advertise ?? `${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  const memberId = meta?.nodeId ?? `${name}~${randomBytes(3).toString('hex')}`;

  const plane = new DataPlane({
    nodeId: memberId,
    address,
    partitionCount: partitions,
    keyBytesMax,
    valueBytesMax,
    memoryLimitBytes: maxMemoryBytes,
    minInSync,
    leaseMs,
    // The control plane is made below; the plane reads the grant only once requests arrive.
    ...(options.fence === true && {
      fence: { leaderGrantUntil: () => control.leaderGrantUntil },
    }),
  });
  const peers = new PeerNetwork(
    {
      memberId,
      address,
      clusterId: () => control.state.clusterId,
      ...(nodeToken !== undefined && { token: nodeToken }),
      ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
    },
    logger,
    () => scheduleFlush(),
    (refusing) => control.peerRefused(refusing),
  );
  // Client requests waiting for the data plane's answer, by the plane's request id.
  let nextRequestId = 1;
  const waiting = new Map<number, Asker>();
  // The command being executed: most are answered within their own execute (reads, writes
  // with no backup to wait for), and those never touch the map. A Map that a request fills
  // and empties again reallocates its table on every delete that leaves it near empty.
  let inlineId = 0;
  let inlineAsker: Asker | null = null;
  // Commands this node forwarded to their partition's primary, by ref, until it answers.
  let nextForwardRef = 1;
  const forwards = new Map<number, { connection: ClientConnection; wireId: number; at: number }>();
  let flushScheduled = false;
  /** Replication messages of this turn, sent at its end: see flushTurn. */
  let pendingReplication: PlaneEffects['send'] = [];
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let metaWritten = meta !== null;
  let minInSyncWarned = false;
  // Set below, once drain() exists; the control plane may apply entries before that.
  let startDrain: () => void = () => undefined;
  /**
   * Carries out what the data plane decided: replies to the connections that asked, messages
   * to the other replicas, reports to the control-plane leader. Declared before the control
   * plane, whose first applied entries may already deliver.
   */
  const sink: EffectSink = {
    reply(requestId, outcome) {
      let asker: Asker | undefined;
      if (requestId === inlineId && inlineAsker !== null) {
        asker = inlineAsker;
        inlineAsker = null;
      } else {
        asker = waiting.get(requestId);
        if (asker === undefined) return;
        waiting.delete(requestId);
      }
      if ('peer' in asker) peers.sendForwarded(asker.peer, encodeOutcome(asker.ref, outcome));
      else if (!forwarded(asker, outcome)) asker.connection.answer(asker.wireId, outcome);
    },
    sendReplication(to, message) {
      // Held to the end of the turn, then batched per peer with the turn's other sends.
      pendingReplication.push({ to, message });
      scheduleFlush();
    },
    sendReport: (leader, report) => peers.sendReport(leader, report),
  };
  // Reads `control` only when a report is due: the control plane replays its persisted log,
  // and so applies tables, inside its constructor, before `control` is assigned.
  const reportTo: ReportSink = {
    get leaderId() {
      return control.leaderId;
    },
    report: (caughtUp, lagging) => control.report(caughtUp, lagging),
  };
  // What the data plane may serve of the table: everything for a new node, nothing from
  // before its restart for a resumed one (plane-glue.ts explains why).
  const gate = new TableGate(memberId, persisted !== null);
  const control: ControlPlane = new ControlPlane({
    self: {
      id: memberId,
      name,
      address,
      state: 'active',
      ...(options.zone !== undefined && { zone: options.zone }),
    },
    bootstrap: persisted === null && seeds.length === 0,
    settings: { partitionCount: partitions, replicationFactor },
    storage,
    transport: peers,
    clock,
    random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
    logger,
    electionTimeoutTicks,
    tickMs,
    failureTimeoutMs,
    votersMax,
    onChange: (state) => {
      const settings = state.settings;
      if (settings === null) return;
      if (settings.partitionCount !== partitions) {
        logger.error(
          { cluster: settings.partitionCount, node: partitions },
          'the cluster has another partition count than this node was started with',
        );
        return;
      }
      if (settings.replicationFactor < minInSync && !minInSyncWarned) {
        // A joiner learns the cluster's factor only now; it keeps running (the operator may
        // mean to restart it), but says why every write it leads will be refused.
        minInSyncWarned = true;
        logger.error(
          { minInSync, replicationFactor: settings.replicationFactor },
          'minInSync exceeds the cluster replication factor: this node refuses every write as primary (UNAVAILABLE)',
        );
      }
      applyTable(state);
      if (!metaWritten && state.clusterId !== null) {
        storage.writeMeta({ clusterId: state.clusterId, nodeId: memberId, incarnation: memberId });
        metaWritten = true;
      }
      const self = state.member(memberId);
      if (self !== undefined) markReady();
      // Drained by `statehouse drain` or another node's request: leave as SIGTERM would.
      if (self?.state === 'draining') startDrain();
    },
  });

  function applyTable(state: ClusterState): void {
    const effects = applyServedTable(plane, gate, state, () => control.appliedIndex, clock.now());
    if (effects !== null) deliver(effects);
  }

  function deliver(effects: PlaneEffects): void {
    deliverEffects(effects, memberId, reportTo, sink);
  }
  /**
   * The end of a turn: the writes of the turn become one append batch per backup; the
   * turn's replication messages to each peer (those appends, and the acks and lease messages
   * of every input the turn handled) are batched into as few messages as the batch bounds
   * allow, one encoding and one frame for the peer to decode; and every peer link writes
   * what it queued, Raft messages too, in one system call. One setImmediate per turn,
   * scheduled by the first write or peer send.
   */
  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flushTurn);
  }
  function flushTurn(): void {
    try {
      deliver(plane.flush());
      const sends = pendingReplication;
      pendingReplication = [];
      for (const { to, message } of batchByDestination(sends)) peers.sendReplication(to, message);
      peers.flush();
    } finally {
      // Sends made by the flush itself were written by it: no second immediate for them.
      flushScheduled = false;
    }
  }
  function run(requestId: number, request: CommandRequest, clientId: string): void {
    // Built field by field rather than with conditional spreads: this runs for every command.
    const options: { id?: IdempotencyId; durability?: Durability; anyReplica?: boolean } = {};
    if (request.seq !== undefined) {
      options.id =
        request.ackedBelow === undefined
          ? { clientId, seq: request.seq }
          : { clientId, seq: request.seq, ackedBelow: request.ackedBelow };
    }
    if (request.durability !== undefined) options.durability = request.durability;
    if (request.readFrom === 'any') options.anyReplica = true;
    deliver(plane.execute(requestId, request.command, clock.now(), options));
    scheduleFlush();
  }
  /**
   * Passes a command its client asked to have forwarded on to the partition's primary,
   * when this node is not it and knows who is (forwardTarget: never an answer in doubt).
   * Returns false when the outcome should be answered as it is.
   */
  function forwarded(asker: ClientAsker, outcome: Outcome): boolean {
    if (asker.forward === undefined || outcome.ok) return false;
    const { request, clientId } = asker.forward;
    const primary = forwardTarget(
      outcome,
      plane.primaryOf(partitionOf(request.command.key, plane.partitionCount)),
      memberId,
    );
    if (primary === null) return false;
    const ref = nextForwardRef++;
    forwards.set(ref, { connection: asker.connection, wireId: asker.wireId, at: Date.now() });
    asker.connection.forwardStarted();
    peers.sendForward(primary, {
      kind: 'forward',
      id: ref,
      clientId,
      request: encodeRequest({ ...request, id: ref }),
    });
    return true;
  }
  /**
   * A primary that took a forwarded command and then died never answers. The client must not
   * wait for it until its own deadline: after twice the failure timeout (by then the cluster
   * has moved the partition) it hears TIMEOUT, in doubt for a write, and retries with its
   * idempotency id.
   */
  function giveUpForwards(): void {
    if (forwards.size === 0) return;
    const before = Date.now() - 2 * failureTimeoutMs;
    for (const [ref, asker] of forwards) {
      if (asker.at >= before) continue;
      forwards.delete(ref);
      asker.connection.relay(asker.wireId, {
        id: ref,
        ok: false,
        error: {
          code: ErrorCode.TIMEOUT,
          message: `the primary this command was forwarded to did not answer in ${2 * failureTimeoutMs} ms`,
        },
      });
    }
  }
  const data: DataAccess = {
    execute(connection, wireId, request, clientId) {
      const requestId = nextRequestId++;
      const asker: Asker =
        request.forward === true
          ? { connection, wireId, forward: { request, clientId } }
          : { connection, wireId };
      // One command at a time: nothing run() reaches reads a client's next command.
      assert(inlineAsker === null, 'execute is not re-entered while a command executes');
      inlineId = requestId;
      inlineAsker = asker;
      try {
        run(requestId, request, clientId);
      } finally {
        // Not answered yet (a sync write waiting for its backups): it waits in the map.
        if (inlineAsker !== null) waiting.set(requestId, inlineAsker);
        inlineAsker = null;
        inlineId = 0;
      }
    },
    forwardIn(forward, from) {
      const request = decodeRequest(forward.request);
      if (isBadMessage(request) || request.kind !== 'command') {
        const message = isBadMessage(request) ? request.message : `not a command: ${request.kind}`;
        warnLimited({ peer: from, reason: message }, 'refused a malformed forwarded request');
        peers.sendForwarded(
          from,
          encodeOutcome(forward.id, { ok: false, code: ErrorCode.BAD_REQUEST, message }),
        );
        return;
      }
      const requestId = nextRequestId++;
      // Answered to the peer, never forwarded again: one hop, no loops between stale tables.
      waiting.set(requestId, { peer: from, ref: forward.id });
      run(requestId, request, forward.clientId);
    },
    forwardedIn(forwardedReply, from) {
      const reply = decodeReply(forwardedReply.reply);
      if (isBadMessage(reply)) {
        warnLimited({ peer: from, reason: reply.message }, 'dropped a malformed forwarded reply');
        return;
      }
      const asker = forwards.get(reply.id);
      if (asker === undefined) return; // answered late: the client's deadline has passed
      forwards.delete(reply.id);
      asker.connection.relay(asker.wireId, reply);
    },
    receive(raw, from) {
      const message = parseReplicationMessage(raw);
      if (isBadReplicationMessage(message)) {
        warnLimited(
          { peer: from, reason: message.reason },
          'dropped a malformed replication message',
        );
        return;
      }
      deliver(plane.receive(from, message, clock.now()));
    },
    report(raw, from) {
      const report = parseReplicationReport(raw);
      if (report === null) {
        warnLimited({ peer: from }, 'dropped a malformed report');
        return;
      }
      control.report(report.caughtUp, report.lagging);
    },
  };

  const connections = new Set<ClientConnection>();
  const context = {
    plane,
    data,
    clock,
    logger,
    cluster: {
      clusterId: () => control.state.clusterId,
      receive: (message: unknown, from: string) => control.receive(message, from),
      learnPeer: (id: string, peerAddress: string) => peers.learn(id, peerAddress),
      admit: (request: JoinRequest) => control.admit(request),
      drain: (id: string) => control.drain(id),
      acceptLoss: (partitions?: readonly number[]) => control.acceptLoss(partitions),
      status: () => control.status(),
      linearizableStatus: () => control.linearizableStatus(),
    },
    frameBytesMax: frameBytesMaxFor(keyBytesMax, valueBytesMax),
    peerFrameBytesMax: peerFrameBytesMaxFor(keyBytesMax, valueBytesMax),
    keyBytesMax,
    valueBytesMax,
    warnLimited,
    tokenDigest: options.token === undefined ? null : digestToken(options.token),
    clusterTokenDigest:
      options.clusterToken === undefined ? null : digestToken(options.clusterToken),
    ...(options.handshakeTimeoutMs !== undefined && {
      handshakeTimeoutMs: options.handshakeTimeoutMs,
    }),
  };
  server.on('connection', (socket: Socket) => {
    connections.add(new ClientConnection(socket, context, (c) => connections.delete(c)));
  });
  server.on('error', (error) => logger.error({ err: error }, 'server error'));

  const ticker = setInterval(() => {
    giveUpForwards();
    control.tick();
    deliver(plane.tick(clock.now()));
  }, tickMs);
  const sweep = setInterval(() => {
    deliver(plane.reclaimExpired(clock.now(), expirySweepEntriesMax));
    scheduleFlush();
  }, expirySweepIntervalMs);
  sweep.unref();

  let markClosed: () => void = () => undefined;
  let failClosed: (error: StatehouseError) => void = () => undefined;
  const closedPromise = new Promise<void>((resolve, reject) => {
    markClosed = resolve;
    failClosed = reject;
  });
  // Handled here so that an embedder who never looks at `closed` gets no unhandled rejection.
  closedPromise.catch(() => undefined);
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      clearInterval(sweep);
      clearInterval(ticker);
      control.close();
      peers.close();
      server.close(() => {
        storage.close();
        resolve();
        if (lockLoss.error === null) markClosed();
        else failClosed(lockLoss.error);
      });
      for (const connection of connections) connection.end();
      // A peer that never reads its replies must not hold the shutdown forever.
      const force = setTimeout(() => {
        for (const connection of connections) connection.destroy();
      }, 2_000);
      force.unref();
      logger.info('node closing');
    });
    return closed;
  };
  // From here on everything the node runs stops with close(). Up to here nothing could run
  // between the checks above and this line.
  stopForLockLoss = () => void close();

  try {
    // A resumed node asks its seeds and the members it knows from its data dir.
    const askSeeds = [
      ...new Set([
        ...seeds,
        ...(persisted === null
          ? []
          : control.state.members.filter((m) => m.id !== memberId).map((m) => m.address)),
      ]),
    ];
    if (askSeeds.length > 0) {
      // A new node must be admitted. A resumed one asks too: the answer proves the seeds are
      // its own cluster (CLUSTER_MISMATCH otherwise), re-admits it if it was removed, and has
      // the leader declare its copies lost (see tableToServe); if no seed answers it goes on
      // with what it persisted, as the rest of the cluster may be restarting too.
      const joining = joinCluster({
        // At least one round of asking, however long learning the partition count took.
        timeoutMs: Math.max(
          joinDeadline - Date.now(),
          Math.min(joinRoundMsMin, options.joinTimeoutMs ?? joinTimeoutMsDefault),
        ),
        seeds: askSeeds,
        stop: lockLoss,
        name,
        memberId,
        address,
        zone: options.zone,
        clusterId: meta?.clusterId ?? null,
        token: nodeToken,
        localAddress: options.localAddress,
        peers,
        logger,
      });
      if (persisted === null) await Promise.race([joining, lockLost]);
      else {
        gate.resetIndex = await Promise.race([
          joining.then(
            (result) => result.resetIndex ?? null,
            (error: unknown) => {
              if (error instanceof StatehouseError && fatalJoinCodes.has(error.code)) throw error;
              if (error === lockLoss.error) throw error;
              logger.warn(
                { err: (error as Error).message },
                'no seed answered; resuming from the data dir, without the partitions it held',
              );
              return null;
            },
          ),
          lockLost,
        ]);
        if (control.state.settings !== null) applyTable(control.state);
      }
    }
    await withDeadline(
      Promise.race([ready, lockLost]),
      30_000,
      'the node did not receive the cluster state in time',
    );
  } catch (error) {
    await close();
    throw error;
  }
  logger.info(
    { address, memberId, cluster: control.state.clusterId, partitions },
    'node listening',
  );

  let draining: Promise<void> | null = null;
  const drain = (drainOptions: { timeoutMs?: number } = {}): Promise<void> => {
    draining ??= drainThenClose({
      control,
      memberId,
      peers,
      token: nodeToken,
      localAddress: options.localAddress,
      logger,
      timeoutMs: drainOptions.timeoutMs ?? drainTimeoutMsDefault,
    }).finally(close);
    return draining;
  };
  startDrain = () => void drain();
  if (control.state.member(memberId)?.state === 'draining') startDrain();

  return {
    id: name,
    memberId,
    address,
    port: actualPort,
    stats: () => ({ ...plane.stats(), connections: connections.size }),
    status: () => control.status(),
    drain,
    close,
    closed: closedPromise,
  };
}

/** How long a drain may take before the node stops anyway: Kubernetes' default grace. */
const drainTimeoutMsDefault = 30_000;

/**
 * Asks the control-plane leader to drain this node, then waits until the cluster has moved
 * everything away and removed it. Gives up early when no other active member is left to
 * take the data (every node is stopping), so that stopping a whole cluster stays quick.
 */
async function drainThenClose(args: {
  control: ControlPlane;
  memberId: string;
  peers: PeerNetwork;
  token: string | undefined;
  localAddress: string | undefined;
  logger: Logger;
  timeoutMs: number;
}): Promise<void> {
  const { control, memberId, logger } = args;
  const deadline = Date.now() + args.timeoutMs;
  const othersCanTakeOver = (): boolean =>
    control.state.members.some((m) => m.id !== memberId && m.state === 'active');
  // Done once the applied table gives this node nothing and it no longer leads: it may not see
  // its own removal, because Raft stops sending it the log once it is out of the group.
  const removed = (): boolean => {
    const self = control.state.member(memberId);
    if (self === undefined) return true;
    return (
      self.state === 'draining' &&
      !control.isLeader &&
      control.state.table.every((a) => a.primary !== memberId && !a.backups.includes(memberId))
    );
  };
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 50));
  logger.info('draining: handing partitions over before stopping');
  while (control.state.member(memberId)?.state !== 'draining' && !removed()) {
    if (!othersCanTakeOver()) {
      logger.warn('no other active member can take the data; stopping without a drain');
      return;
    }
    if (Date.now() > deadline) {
      logger.warn('the drain was not accepted in time; stopping anyway');
      return;
    }
    try {
      await askLeaderToDrain(args);
    } catch (error) {
      logger.debug({ err: (error as Error).message }, 'drain request not accepted yet');
      await pause();
    }
  }
  while (!removed()) {
    if (!othersCanTakeOver()) {
      logger.warn('every other member is leaving too; stopping before the drain finished');
      return;
    }
    if (Date.now() > deadline) {
      logger.warn('the drain did not finish in time; stopping anyway');
      return;
    }
    await pause();
  }
  logger.info('drained: every partition has moved away');
}

async function askLeaderToDrain(args: {
  control: ControlPlane;
  memberId: string;
  peers: PeerNetwork;
  token: string | undefined;
  localAddress: string | undefined;
}): Promise<void> {
  const leader = args.control.leaderId;
  if (leader === null) throw new StatehouseError(ErrorCode.UNAVAILABLE, 'no leader known');
  if (leader === args.memberId) {
    await args.control.drain(args.memberId);
    return;
  }
  const address = args.peers.addressOf(leader);
  if (address === undefined) throw new StatehouseError(ErrorCode.UNAVAILABLE, 'leader unknown');
  const reply = await requestOnce({
    address,
    clientName: `statehouse-node ${args.memberId}`,
    clientId: args.memberId,
    timeoutMs: 5_000,
    ...(args.token !== undefined && { token: args.token }),
    ...(args.localAddress !== undefined && { localAddress: args.localAddress }),
    encode: (id) => encodeRequest({ kind: 'drain', id, memberId: args.memberId }),
  });
  if (!reply.ok) throw new StatehouseError(reply.error.code, reply.error.message);
}

function openStorage(
  dataDir: string | undefined,
  onLockLost: (error: RaftStorageError) => void,
): RaftStorage<ControlCommand> {
  if (dataDir === undefined) return new MemoryRaftStorage<ControlCommand>();
  try {
    return new FileRaftStorage<ControlCommand>({ dir: dataDir, onLockLost });
  } catch (error) {
    if (error instanceof RaftStorageError) {
      const code =
        error.code === 'STORAGE_LOCKED' ? ErrorCode.DATA_DIR_LOCKED : ErrorCode.DATA_DIR_CORRUPT;
      throw new StatehouseError(code, error.message, { cause: error });
    }
    // The dir cannot be made or used (a file of that name, no permission, a read-only disk):
    // the operator's to fix, so a message naming the dir rather than a stack.
    const errno = (error as NodeJS.ErrnoException).code;
    if (typeof errno === 'string') {
      throw new StatehouseError(
        ErrorCode.UNAVAILABLE,
        `cannot use the data dir ${dataDir}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new StatehouseError(
          ErrorCode.UNAVAILABLE,
          error.code === 'EADDRINUSE'
            ? `cannot listen on ${host}:${port}: the address is already in use`
            : `cannot listen on ${host}:${port}: ${error.message}`,
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new StatehouseError(ErrorCode.TIMEOUT, message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Errors that asking again cannot fix. */
const fatalJoinCodes: ReadonlySet<string> = new Set([
  ErrorCode.CLUSTER_MISMATCH,
  ErrorCode.UNAUTHORIZED,
  ErrorCode.PROTOCOL_MISMATCH,
]);

/**
 * NODE_ID_IN_USE is asked again for this long: a node restarted without its data dir finds
 * its old incarnation still counted alive until the failure timeout passes; a real duplicate
 * is still there after it.
 */
const nameInUseGraceMs = 10_000;

/** How long a starting node waits for each seed to tell it the cluster's partition count. */
const partitionCountAskMs = 2_000;
/** How long a new node tries its seeds, asking for the partition count and then to join. */
const joinTimeoutMsDefault = 30_000;
/** The least time a join is given to ask its seeds once. */
const joinRoundMsMin = 2_000;
/** Between rounds of asking seeds that none answered. */
const seedRetryMs = 200;

/**
 * The partition count is the cluster's, fixed when it was created. A node that joins learns it
 * from the first seed that answers the handshake, asking them in turn until one does or the
 * join's deadline passes (a default would make a node that was started before its seeds a
 * member that can serve nothing, and a voter). A count given to it must match.
 */
async function partitionCountToServe(
  given: number | undefined,
  seeds: readonly string[],
  args: {
    /** Set when the start is abandoned (the data dir was taken): asking ends at once. */
    stop: { readonly error: StatehouseError | null };
    clientName: string;
    token: string | undefined;
    localAddress: string | undefined;
    deadline: number;
  },
): Promise<number> {
  if (seeds.length === 0) return given ?? partitionCountDefault; // it founds the cluster
  let lastError: Error | null = null;
  for (;;) {
    for (const seed of seeds) {
      if (args.stop.error !== null) throw args.stop.error;
      let cluster: number | null = null;
      try {
        await requestOnce({
          address: seed,
          clientName: args.clientName,
          clientId: `${args.clientName}~${randomBytes(3).toString('hex')}`,
          timeoutMs: Math.max(100, Math.min(partitionCountAskMs, args.deadline - Date.now())),
          ...(args.token !== undefined && { token: args.token }),
          ...(args.localAddress !== undefined && { localAddress: args.localAddress }),
          encode: (id) => encodeRequest({ kind: 'ping', id }),
          onHello: (hello) => {
            cluster = hello.partitionCount;
          },
        });
      } catch (error) {
        // A wrong token or protocol will not get better by asking again.
        if (error instanceof StatehouseError && fatalJoinCodes.has(error.code)) throw error;
        lastError = error as Error;
      }
      if (cluster === null) continue;
      if (given !== undefined && given !== cluster) {
        throw new StatehouseError(
          ErrorCode.BAD_REQUEST,
          `the cluster at ${seed} has ${cluster} partitions, and this node was given ${given}: ` +
            'leave the partition count out when joining: a joining node takes the count of its cluster',
        );
      }
      return cluster;
    }
    if (Date.now() + seedRetryMs > args.deadline) {
      throw new StatehouseError(
        ErrorCode.UNAVAILABLE,
        `no seed answered (${seeds.join(', ')}) in time to learn the cluster's partition count` +
          (lastError === null ? '' : `: ${lastError.message}`),
      );
    }
    await new Promise((r) => setTimeout(r, seedRetryMs));
  }
}

/** A resumed node's count: what its log records; a count given to it must match. */
function partitionCountResumed(
  given: number | undefined,
  recorded: ClusterSettings,
  dataDir: string | undefined,
): number {
  if (given !== undefined && given !== recorded.partitionCount) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `the cluster in ${dataDir ?? 'this data dir'} has ${recorded.partitionCount} partitions, and this node was given ${given}: ` +
        'a cluster keeps the partition count it was created with; leave it out when resuming',
    );
  }
  return recorded.partitionCount;
}

/** Asks the seeds to admit this node, following NOT_LEADER hints, until one does. */
async function joinCluster(args: {
  timeoutMs: number;
  seeds: readonly string[];
  /** Set when the start is abandoned (the data dir was taken): asking ends at once. */
  stop: { readonly error: StatehouseError | null };
  name: string;
  memberId: string;
  address: string;
  zone: string | undefined;
  clusterId: string | null;
  token: string | undefined;
  localAddress: string | undefined;
  peers: PeerNetwork;
  logger: Logger;
}): Promise<JoinResult> {
  const deadline = Date.now() + args.timeoutMs;
  let candidates = [...args.seeds];
  let lastError: unknown = null;
  let nameInUseSince: number | null = null;
  while (Date.now() < deadline) {
    for (const seed of candidates) {
      if (args.stop.error !== null) throw args.stop.error;
      try {
        const reply = await requestOnce({
          address: seed,
          clientName: `statehouse-node ${args.name}`,
          clientId: args.memberId,
          timeoutMs: Math.max(100, Math.min(10_000, deadline - Date.now())),
          ...(args.token !== undefined && { token: args.token }),
          ...(args.localAddress !== undefined && { localAddress: args.localAddress }),
          encode: (id) =>
            encodeRequest({
              kind: 'join',
              id,
              name: args.name,
              memberId: args.memberId,
              address: args.address,
              clusterId: args.clusterId,
              ...(args.zone !== undefined && { zone: args.zone }),
            }),
        });
        if (reply.ok) {
          const result = reply.result as JoinResult;
          args.peers.learn(result.leaderId, result.leaderAddress);
          args.logger.info(
            { cluster: result.clusterId, leader: result.leaderId },
            'joined the cluster',
          );
          return result;
        }
        const { code, message, meta } = reply.error;
        if (fatalJoinCodes.has(code)) throw new StatehouseError(code, message);
        lastError = new StatehouseError(code, message);
        if (code === ErrorCode.NODE_ID_IN_USE) {
          nameInUseSince ??= Date.now();
          if (Date.now() - nameInUseSince > nameInUseGraceMs) throw lastError;
        }
        if (code === ErrorCode.NOT_LEADER && meta?.hint !== undefined && meta.hint !== seed) {
          candidates = [meta.hint, ...args.seeds.filter((s) => s !== meta.hint)];
          break;
        }
      } catch (error) {
        if (error instanceof StatehouseError && fatalJoinCodes.has(error.code)) throw error;
        lastError = error;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (lastError instanceof StatehouseError && lastError.code === ErrorCode.NODE_ID_IN_USE) {
    throw lastError;
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new StatehouseError(
    ErrorCode.UNAVAILABLE,
    `could not join through ${args.seeds.join(', ')}${reason}`,
  );
}
