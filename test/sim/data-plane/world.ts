/**
 * A deterministic world for whole nodes: per node, the real ControlPlane and the real
 * DataPlane, wired by the same glue as start-node.ts (src/node/plane-glue.ts: the table gate,
 * applying tables, carrying out effects, reports to the leader), over a simulated network
 * and per-node virtual clocks. Nothing here reads the wall clock, sleeps, or draws real
 * randomness: one seed decides every delay, loss, duplicate, cut, crash, pause, clock rate
 * and clock jump, so a run replays exactly.
 *
 * What is simulated, and how it maps to the real runtime:
 * - The network carries Raft messages, replication messages (msgpack round trip, then the
 *   same parser as a real node's), reports, and client requests and answers. While faults
 *   are on, each message may be lost, delayed (which reorders), or duplicated; links between
 *   nodes can be cut both ways or one way. Clients always reach a live node, only through
 *   the lossy network: a node cut off from its peers but not from clients is the case a
 *   primary's lease exists for.
 * - Each node has its own clock. The runtime reads the wall clock once, when the process
 *   starts, and advances it by the monotonic clock (start-node.ts monotonicWallClock). Here a
 *   process starts with its clock at true time plus an offset drawn from [0, clockBandMs), and
 *   it then runs at a rate drawn within what leases.ts assumes (clockDriftFactor between any
 *   two nodes), redrawn now and then.
 * - Clock jumps. A wall-clock step (NTP, `date -s`) never reaches a running process, but a
 *   restarted one anchors to the wall clock as it reads then, which may have been stepped while
 *   the node was down: every restart, with or without a data dir, redraws the node's offset
 *   in the band, so its clock jumps forward or backward by up to clockBandMs, plus whatever
 *   rate drift it had run up (the drift is undone, as the new anchor is a disciplined clock).
 *   The bound is the one the design assumes of wall clocks: they agree to within a second, as
 *   NTP keeps them (far closer, in fact). That matters where wall-clock instants made on one
 *   node are compared on another: expiry times the primary decides, and the idempotency
 *   table's idle clock, both at a scale of minutes; a node minutes off would break them, and
 *   that is outside what the design promises. (The simulated clients write `ttl…` keys
 *   with a TTL of seconds, and checker/expiry.ts holds their reads to bounds widened by
 *   the clocks' spread, clockSpreadMs.) Leases and failure detection
 *   measure intervals on one process's clock (rates within clockDriftFactor), which a restart
 *   starts afresh; a jump of a second is longer than a lease and than the failure timeout, so
 *   anything timed across a restart would have room to go wrong. The run counts the jumps
 *   (clockJumps).
 *   A forward jump of a running node's clock is what the monotonic clock does across a stall
 *   (SIGSTOP, a VM paused by its host, a long GC): the pause below models it, the node's clock
 *   running on while it processes nothing, so no other forward jump is injected. A running
 *   node's clock never goes backward.
 * - A node ticks every tickMs of its own clock (the runtime's setInterval), flushes its
 *   writes to the backups once per turn (setImmediate), and sweeps expired keys on its
 *   interval.
 * - A crash loses everything in memory. A restart either resumes from the node's Raft
 *   storage (a data dir: same member id, the table gate holds the data plane back until the
 *   leader's `lostCopies` entry is applied) or starts a new incarnation without one; either
 *   way it asks the leader to admit it, as joinCluster does. While it is down, its address
 *   refuses connections: a node that sends to it is told so (ControlPlane.peerRefused).
 * - A drain is `statehouse drain` of a node: the leader commits it draining, placement moves
 *   its copies away, and once the cluster has removed it the process exits and the machine
 *   comes back as a new incarnation that joins again (a drain, then a join, under load). A
 *   drain whose entry was lost with a leader change is asked again, as an operator would.
 * - A pause (SIGSTOP) stops a node from processing anything; messages to it wait, its clock
 *   runs on (a forward jump, as the node sees it), and on resume it takes the queued messages
 *   in their order.
 */
import { SeededRandom } from '../../../src/core/random.js';
import { ErrorCode, StatehouseError } from '../../../src/core/errors.js';
import { createPackr } from '../../../src/core/msgpack.js';
import { expirySweepEntriesMax, expirySweepIntervalMs } from '../../../src/core/limits.js';
import type { PlantedBug } from '../../../src/core/planted-bug.js';
import type { ClusterState, ControlCommand } from '../../../src/control/index.js';
import { ControlPlane } from '../../../src/node/control-plane.js';
import { MemoryRaftStorage } from '../../../src/node/raft-storage.js';
import { silentLogger } from '../../../src/node/logger.js';
import {
  TableGate,
  applyServedTable,
  deliverEffects,
  type EffectSink,
} from '../../../src/node/plane-glue.js';
import {
  DataPlane,
  clockDriftFactor,
  type PartitionReport,
  type PlaneEffects,
  type TableView,
} from '../../../src/replication/index.js';
import {
  isBadReplicationMessage,
  parseReplicationMessage,
  parseReplicationReport,
  toWire,
} from '../../../src/protocol/replication-messages.js';
import type { Message } from '../../../src/raft/index.js';
import type { Command, IdempotencyId, Outcome } from '../../../src/store/index.js';

/** The cluster's timing, as start-node.ts derives it from its defaults. */
export const tickMs = 50;
export const failureTimeoutMs = 600;
export const leaseMs = Math.min(400, Math.floor(failureTimeoutMs / clockDriftFactor));
const electionTimeoutTicks = 10;
/** Virtual milliseconds per simulation step: finer than a tick, so message delays matter. */
export const stepMs = 5;
/**
 * Clock rates are drawn from [1 - rateSpread, 1 + rateSpread]; the ratio of two is then at
 * most 1.05 / 0.95 = 1.105, inside clockDriftFactor (1.2), which is what leases assume.
 */
const rateSpread = 0.05;
/** True time 0 on the nodes' wall clocks. */
const wallClockEpoch = 1_700_000_000_000;
/**
 * A process starts with its clock at true time plus an offset in [0, clockBandMs): any two
 * nodes' wall clocks agree to within a second, and a restart jumps by up to that much.
 */
export const clockBandMs = 1_000;

export interface ClientRequest {
  readonly command: Command;
  readonly id?: IdempotencyId;
}

export type Payload =
  | { readonly kind: 'raft'; readonly message: Message<ControlCommand> }
  | { readonly kind: 'data'; readonly bytes: Uint8Array }
  | { readonly kind: 'report'; readonly bytes: Uint8Array }
  | { readonly kind: 'table?'; readonly client: number; readonly attempt: number }
  | {
      readonly kind: 'request';
      readonly client: number;
      readonly attempt: number;
      readonly request: ClientRequest;
    }
  | { readonly kind: 'table'; readonly attempt: number; readonly table: TableView }
  | { readonly kind: 'answer'; readonly attempt: number; readonly outcome: Outcome };

interface InFlight {
  readonly deliverAt: number;
  readonly order: number;
  /** Node name, or `c<n>` for a client. */
  readonly from: string;
  readonly to: string;
  /** For node-to-node messages: the member id it is for (an older incarnation's is dropped). */
  readonly toMember: string | null;
  /** For node-to-node messages: the sending incarnation, as the peer's handshake names it. */
  readonly fromMember: string;
  readonly sentAt: number;
  readonly payload: Payload;
}

export interface WorldOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly plantedBug?: PlantedBug;
}

export class SimNode {
  memberId: string;
  incarnation = 0;
  storage = new MemoryRaftStorage<ControlCommand>();
  control!: ControlPlane;
  plane!: DataPlane;
  gate!: TableGate;
  up = true;
  pausedUntil = 0;
  /** The node's clock reading; see World.advanceClocks. */
  clock: number;
  rate = 1;
  nextTickAt = 0;
  nextSweepAt = 0;
  /** False until the leader admitted it (a restarted node asks again until it is). */
  joined = true;
  /** Whether the process resumed from its data dir (its Raft storage), as start-node's `persisted`. */
  resumed = false;
  /**
   * The cluster it resumed from its data dir, for its join request; null for a new node, and
   * for a resumed one whose data dir had not learned the cluster's id yet.
   */
  resumedFrom: string | null = null;
  /** When this process started: messages sent to an earlier one died with its connections. */
  bootedAt = 0;
  joinAskedAt = -Infinity;
  /** An admission asked and not answered yet. */
  joinPending = false;
  /** Draining: once the cluster has let it go, it rejoins as a new incarnation (World.drain). */
  draining = false;
  /** A drain asked of the leader and not answered yet. */
  drainPending = false;
  /** Client requests waiting for the data plane's answer, by the plane's request id. */
  readonly waiting = new Map<number, { client: number; attempt: number }>();
  nextRequestId = 1;

  constructor(
    readonly name: string,
    start: number,
  ) {
    this.memberId = `${name}~0`;
    this.clock = start;
  }

  get address(): string {
    return `${this.name}:1`;
  }

  paused(now: number): boolean {
    return now < this.pausedUntil;
  }
}

/** 53-bit string hash (cyrb53): the run's fingerprint, compared across replays. */
export function hashString(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

export class World {
  /** True time, in ms since the run began; nodes see it only through their own clocks. */
  now = 0;
  readonly nodes: SimNode[] = [];
  readonly random: SeededRandom;
  /** Loss, duplication and delay while faults are on. */
  lossRate = 0;
  duplicateRate = 0;
  delayMsMax = 1;
  /** Directed node-name pairs `a>b` whose messages from a to b are dropped. */
  readonly cut = new Set<string>();
  /** Client delivery, set by the clients module. */
  onClientMessage: (client: number, payload: Payload, now: number) => void = () => undefined;
  readonly trace: string[] = [];
  violations: string[] = [];
  messagesDelivered = 0;
  /** Restarts whose process found the wall clock elsewhere than its old clock read. */
  clockJumps = 0;
  /** The largest of those jumps, in ms either way. */
  clockJumpMsMax = 0;
  /**
   * The lowest and highest clock error (a running node's clock minus true time) seen in the
   * run: their difference bounds how far two nodes' expiry decisions can disagree.
   */
  private clockErrorMsMin = Infinity;
  private clockErrorMsMax = -Infinity;
  /**
   * A restart's clock reading, from a stream of its own: drawing it from the network's would
   * have changed every run from its first restart on, on top of the jump itself.
   */
  private readonly clockRandom: SeededRandom;
  private fingerprint = 0;
  private queue: InFlight[] = [];
  private order = 0;
  private readonly packr = createPackr();
  /** Per partition, the placement last written to the trace (JSON), to log changes once. */
  private readonly tracedPlacement = new Map<number, string>();

  constructor(readonly options: WorldOptions) {
    this.random = new SeededRandom(options.seed);
    this.clockRandom = new SeededRandom((options.seed ^ 0x5bd1e995) >>> 0);
  }

  log(line: string): void {
    const text = `[${(this.now / 1000).toFixed(3)}s] ${line}`;
    this.trace.push(text);
    this.fingerprint = hashString(text, this.fingerprint);
  }

  /** A hash of everything that happened: trace lines and every delivered message. */
  get traceHash(): string {
    return this.fingerprint.toString(16).padStart(14, '0');
  }

  nodeByName(name: string): SimNode | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  nodeByMember(memberId: string): SimNode | undefined {
    const node = this.nodeByName(memberId.split('~')[0] ?? '');
    return node !== undefined && node.memberId === memberId ? node : undefined;
  }

  leader(): SimNode | undefined {
    return this.nodes.find((n) => n.up && n.control.isLeader);
  }

  // ---- nodes ------------------------------------------------------------------------------

  /** Builds a node's runtime: control plane, data plane and gate, as startNode does. */
  private boot(node: SimNode, bootstrap: boolean, resumed: boolean): void {
    const memberId = node.memberId;
    node.plane = new DataPlane({
      nodeId: memberId,
      address: node.address,
      partitionCount: this.options.partitions,
      keyBytesMax: 1024,
      valueBytesMax: 64 * 1024,
      memoryLimitBytes: Infinity,
      leaseMs,
      ...(this.options.plantedBug !== undefined && { plantedBug: this.options.plantedBug }),
    });
    node.gate = new TableGate(memberId, resumed);
    node.waiting.clear();
    const clock = { now: () => node.clock };
    node.control = new ControlPlane({
      self: { id: memberId, name: node.name, address: node.address, state: 'active' },
      bootstrap,
      settings: {
        partitionCount: this.options.partitions,
        replicationFactor: this.options.replicationFactor,
      },
      storage: node.storage,
      transport: {
        send: (message) =>
          this.send(node.name, message.to.split('~')[0] ?? '', message.to, {
            kind: 'raft',
            message,
          }),
        learn: () => undefined,
        addressOf: (id) => `${id.split('~')[0]}:1`,
      },
      clock,
      random: new SeededRandom(this.random.nextUint32()),
      logger: silentLogger,
      electionTimeoutTicks,
      tickMs,
      failureTimeoutMs,
      votersMax: 3,
      newClusterId: () => `sim-${this.options.seed}`,
      ...(this.options.plantedBug !== undefined && { plantedBug: this.options.plantedBug }),
      onChange: (state) => {
        // As start-node.ts: this runs inside the constructor too, when a resumed node replays
        // its log; the gate then holds the table back without asking for the applied index.
        if (state.settings === null) return;
        this.traceTable(node, state);
        this.applyTable(node, state);
      },
    });
    node.bootedAt = this.now;
    node.nextTickAt = node.clock + tickMs;
    node.nextSweepAt = node.clock + expirySweepIntervalMs;
  }

  private sink(node: SimNode): EffectSink {
    return {
      reply: (requestId, outcome) => {
        const asker = node.waiting.get(requestId);
        if (asker === undefined) return;
        node.waiting.delete(requestId);
        this.send(node.name, `c${asker.client}`, null, {
          kind: 'answer',
          attempt: asker.attempt,
          outcome,
        });
      },
      sendReplication: (to, message) =>
        this.send(node.name, to.split('~')[0] ?? '', to, {
          kind: 'data',
          bytes: this.packr.pack(toWire(message)),
        }),
      sendReport: (leader, report) =>
        this.send(node.name, leader.split('~')[0] ?? '', leader, {
          kind: 'report',
          bytes: this.packr.pack(report),
        }),
    };
  }

  deliver(node: SimNode, effects: PlaneEffects): void {
    deliverEffects(effects, node.memberId, node.control, this.sink(node));
  }

  private applyTable(node: SimNode, state: ClusterState): void {
    const effects = applyServedTable(
      node.plane,
      node.gate,
      state,
      () => node.control.appliedIndex,
      node.clock,
    );
    if (effects !== null) this.deliver(node, effects);
  }

  /** Writes each placement change to the trace once, as the first node applies it. */
  private traceTable(node: SimNode, state: ClusterState): void {
    state.table.forEach((a, p) => {
      const text = `e${a.epoch} primary=${a.primary ?? '-'} backups=[${a.backups.join(',')}] inSync=[${a.inSync.join(',')}]`;
      const seen = this.tracedPlacement.get(p);
      const epoch = seen === undefined ? -1 : Number(seen.slice(1, seen.indexOf(' ')));
      if (seen === text || a.epoch < epoch) return;
      this.tracedPlacement.set(p, text);
      this.log(`${node.name}: table v${state.tableVersion} p${p} ${text}`);
    });
  }

  /** Founds the cluster on the first node and admits the others, as startNode would. */
  async start(): Promise<void> {
    for (let i = 1; i <= this.options.nodes; i++) {
      // Offsets within a second, as NTP keeps real clocks: expiry times and the idempotency
      // table's idle clock are wall-clock instants compared across nodes, which the design
      // assumes agree to well within their scale (minutes); a node started minutes ahead
      // would, as primary, forget every client's results at once.
      const node = new SimNode(`n${i}`, wallClockEpoch + this.random.int(clockBandMs));
      this.nodes.push(node);
      this.boot(node, i === 1, false);
      node.bootedAt = -1;
      if (i > 1) node.joined = false;
    }
    const bound = 20_000 / stepMs;
    for (let i = 0; i < bound && this.nodes.some((n) => !n.joined); i++) await this.step();
    if (this.nodes.some((n) => !n.joined)) {
      throw new Error(`seed ${this.options.seed}: the nodes did not all join`);
    }
  }

  crash(node: SimNode): void {
    node.up = false;
    node.control.close();
    this.log(`${node.name}: CRASH (memory lost)`);
  }

  /**
   * Restarts a crashed node: `resume` keeps its Raft storage (a data dir), otherwise a new
   * incarnation starts with nothing. Either way its clock is anchored anew (a jump; see the
   * header). It asks the leader to admit it until one does.
   */
  restart(node: SimNode, resume: boolean): void {
    if (!resume) {
      node.incarnation++;
      node.memberId = `${node.name}~${node.incarnation}`;
      node.storage = new MemoryRaftStorage<ControlCommand>();
    }
    node.up = true;
    node.joined = false;
    node.joinAskedAt = -Infinity;
    node.joinPending = false;
    node.pausedUntil = 0;
    const jump = this.anchorClock(node);
    this.boot(node, false, resume);
    node.resumed = resume;
    node.resumedFrom = resume ? node.control.state.clusterId : null;
    this.log(
      `${node.name}: RESTART as ${node.memberId} (${resume ? 'resumed from its data dir' : 'new incarnation'}), clock ${jump >= 0 ? '+' : ''}${jump} ms`,
    );
  }

  /** Starts draining `node`; see the header. False if there is no leader to ask. */
  drain(node: SimNode): boolean {
    if (this.leader() === undefined || !node.up || !node.joined || node.draining) return false;
    node.draining = true;
    this.log(`${node.name}: DRAIN ${node.memberId}`);
    this.askToDrain(node);
    return true;
  }

  private askToDrain(node: SimNode): void {
    const leader = this.leader();
    if (leader === undefined || node.drainPending) return;
    node.drainPending = true;
    const memberId = node.memberId;
    leader.control.drain(memberId).then(
      () => {
        node.drainPending = false;
      },
      () => {
        node.drainPending = false;
      },
    );
  }

  /**
   * A draining node the cluster removed exits and rejoins as a new incarnation; one whose
   * drain was never committed (or was undone by its death) is asked to drain again.
   */
  private followDrains(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    for (const node of this.nodes) {
      if (!node.draining || node.drainPending) continue;
      const member = leader.control.state.member(node.memberId);
      if (member === undefined) {
        node.draining = false;
        this.log(`${node.name}: drained and removed; the machine comes back`);
        if (node.up) this.crash(node);
        this.restart(node, false);
      } else if (member.state !== 'draining' && node.up && node.joined) {
        this.askToDrain(node);
      }
    }
  }

  pause(node: SimNode, ms: number): void {
    node.pausedUntil = this.now + ms;
    this.log(`${node.name}: PAUSE for ${ms} ms`);
  }

  /**
   * Asks the leader to admit a node that is not in yet, as joinCluster does: again 200 ms
   * after a refusal, or after 2 s without an answer (joinCluster's request timeout, shorter).
   */
  private askToJoin(node: SimNode): void {
    const wait = node.joinPending ? 2_000 : 200;
    if (this.now - node.joinAskedAt < wait) return;
    node.joinAskedAt = this.now;
    const resumed = node.resumed;
    const leader = this.leader();
    // A resumed node may lead already (its persisted vote and log let it win an election);
    // its join request then reaches itself, as joinCluster's NOT_LEADER hint would send it.
    if (leader === undefined || (leader === node && !resumed)) return;
    const memberId = node.memberId;
    node.joinPending = true;
    const admitted = leader.control.admit({
      kind: 'join',
      id: 0,
      name: node.name,
      memberId,
      address: node.address,
      clusterId: node.resumedFrom,
    });
    admitted.then(
      (result) => {
        if (node.memberId !== memberId || !node.up || node.joined) return;
        node.joinPending = false;
        node.joined = true;
        this.log(`${node.name}: admitted (resetIndex ${result.resetIndex ?? '-'})`);
        if (resumed) {
          node.gate.resetIndex = result.resetIndex ?? null;
          if (node.control.state.settings !== null) this.applyTable(node, node.control.state);
        }
      },
      // Refused (the name is still in use, the leader stepped down): asked again soon. A
      // TIMEOUT comes from a real timer in ControlPlane, not from virtual time; heeding it
      // would let the wall clock steer the run, so that case waits for the 2 s above.
      (error: unknown) => {
        const timedOut = error instanceof StatehouseError && error.code === ErrorCode.TIMEOUT;
        if (node.memberId === memberId && !timedOut) node.joinPending = false;
      },
    );
  }

  // ---- the network ------------------------------------------------------------------------

  send(from: string, to: string, toMember: string | null, payload: Payload): void {
    const isNodeLink = !from.startsWith('c') && !to.startsWith('c');
    if (isNodeLink && this.cut.has(`${from}>${to}`)) return;
    // As a real node's PeerNetwork: nothing listens at a crashed node's address, so the
    // sender learns at once that its process is gone (a cut or paused node is not refused).
    if (isNodeLink && toMember !== null && this.nodeByName(to)?.up === false) {
      this.nodeByName(from)?.control.peerRefused(toMember);
    }
    if (this.lossRate > 0 && this.random.next() < this.lossRate) return;
    const copies = this.duplicateRate > 0 && this.random.next() < this.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = 1 + this.random.int(this.delayMsMax);
      this.queue.push({
        deliverAt: this.now + delay,
        order: this.order++,
        from,
        fromMember: this.nodeByName(from)?.memberId ?? from,
        sentAt: this.now,
        to,
        toMember,
        payload,
      });
    }
  }

  private receive(node: SimNode, m: InFlight): void {
    const payload = m.payload;
    const from = m.fromMember;
    switch (payload.kind) {
      case 'raft':
        node.control.receive(payload.message, payload.message.from);
        return;
      case 'data': {
        const message = parseReplicationMessage(this.packr.unpack(payload.bytes));
        if (isBadReplicationMessage(message)) {
          this.violations.push(
            `${node.name} could not parse a replication message: ${message.reason}`,
          );
          return;
        }
        this.deliver(node, node.plane.receive(from, message, node.clock));
        return;
      }
      case 'report': {
        const report = parseReplicationReport(this.packr.unpack(payload.bytes));
        if (report === null) {
          this.violations.push(`${node.name} could not parse a report`);
          return;
        }
        node.control.report(
          report.caughtUp as PartitionReport[],
          report.lagging as PartitionReport[],
        );
        return;
      }
      case 'table?':
        this.send(node.name, `c${payload.client}`, null, {
          kind: 'table',
          attempt: payload.attempt,
          table: node.plane.table(),
        });
        return;
      case 'request': {
        const requestId = node.nextRequestId++;
        node.waiting.set(requestId, { client: payload.client, attempt: payload.attempt });
        const { command, id } = payload.request;
        this.deliver(
          node,
          node.plane.execute(requestId, command, node.clock, id === undefined ? {} : { id }),
        );
        return;
      }
      default:
        return;
    }
  }

  // ---- time -------------------------------------------------------------------------------

  /**
   * A new process reads the wall clock: true time plus a fresh offset in the band. Returns
   * the jump from what the node's previous clock would read now.
   */
  private anchorClock(node: SimNode): number {
    const before = node.clock;
    node.clock = wallClockEpoch + this.now + this.clockRandom.int(clockBandMs);
    const jump = Math.round(node.clock - before);
    if (jump !== 0) {
      this.clockJumps++;
      this.clockJumpMsMax = Math.max(this.clockJumpMsMax, Math.abs(jump));
    }
    return jump;
  }

  private advanceClocks(): void {
    for (const node of this.nodes) {
      node.clock += stepMs * node.rate;
      if (!node.up) continue;
      const error = node.clock - wallClockEpoch - this.now;
      if (error < this.clockErrorMsMin) this.clockErrorMsMin = error;
      if (error > this.clockErrorMsMax) this.clockErrorMsMax = error;
    }
  }

  /** The largest difference between two running nodes' clock errors so far, in ms. */
  get clockSpreadMs(): number {
    return this.clockErrorMsMax >= this.clockErrorMsMin
      ? Math.ceil(this.clockErrorMsMax - this.clockErrorMsMin)
      : 0;
  }

  /** Draws a new clock rate for a node (drift within what leases assume). */
  drift(node: SimNode): void {
    node.rate = 1 - rateSpread + 2 * rateSpread * this.random.next();
    this.log(`${node.name}: clock rate ${node.rate.toFixed(4)}`);
  }

  /**
   * One step of true time: deliver what is due (held for paused nodes), then let every
   * running node take its turn: its tick if its clock says so, its sweep, and the flush.
   */
  async step(): Promise<void> {
    this.now += stepMs;
    this.advanceClocks();
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const m of this.queue) {
      const target = m.to.startsWith('c') ? undefined : this.nodeByName(m.to);
      const held = target !== undefined && target.up && target.paused(this.now);
      if (m.deliverAt <= this.now && !held) due.push(m);
      else later.push(m);
    }
    this.queue = later;
    due.sort((a, b) => a.deliverAt - b.deliverAt || a.order - b.order);
    for (const m of due) {
      this.messagesDelivered++;
      this.fingerprint = hashString(`${m.order}>${m.to}`, this.fingerprint);
      if (m.to.startsWith('c')) {
        this.onClientMessage(Number(m.to.slice(1)), m.payload, this.now);
        continue;
      }
      const node = this.nodeByName(m.to);
      if (node === undefined || !node.up || m.sentAt <= node.bootedAt) continue;
      if (m.toMember !== null && m.toMember !== node.memberId) continue;
      // A node not admitted yet has no table to serve clients from: what a real one answers
      // before its hello completes, nothing.
      if (!node.joined && (m.payload.kind === 'request' || m.payload.kind === 'table?')) continue;
      this.receive(node, m);
    }
    for (const node of this.nodes) {
      if (!node.up || node.paused(this.now)) continue;
      if (!node.joined) this.askToJoin(node);
      // A node whose clock ran past several ticks (a pause) catches up one tick per turn,
      // as setInterval does after the event loop was blocked.
      if (node.clock >= node.nextTickAt) {
        node.nextTickAt = Math.max(node.nextTickAt + tickMs, node.clock - tickMs);
        node.control.tick();
        this.deliver(node, node.plane.tick(node.clock));
      }
      if (node.clock >= node.nextSweepAt) {
        node.nextSweepAt = node.clock + expirySweepIntervalMs;
        this.deliver(node, node.plane.reclaimExpired(node.clock, expirySweepEntriesMax));
      }
      this.deliver(node, node.plane.flush());
    }
    this.followDrains();
    // Admissions and drains settle on promises; let them run before the next step, in a
    // fixed order.
    if (this.nodes.some((n) => !n.joined || n.drainPending)) {
      for (let i = 0; i < 8; i++) await Promise.resolve();
    }
  }

  heal(): void {
    this.cut.clear();
    this.lossRate = 0;
    this.duplicateRate = 0;
    this.delayMsMax = 1;
  }

  /**
   * Whether the cluster has settled: a leader, every node up, admitted and serving one table
   * version, and every partition that still has a copy served by a live primary with all its
   * copies in sync. Partitions that lost every in-sync copy (stuck) are counted, not awaited.
   */
  settled(): { ok: boolean; stuck: number[]; why: string } {
    const no = (why: string) => ({ ok: false, stuck: [], why });
    const leader = this.leader();
    if (leader === undefined) return no('no control-plane leader');
    const state = leader.control.state;
    const version = state.tableVersion;
    for (const n of this.nodes) {
      if (!n.up || !n.joined || n.paused(this.now)) return no(`${n.name} is not up and admitted`);
      if (n.draining) return no(`${n.name} is still draining`);
      if (n.control.state.tableVersion !== version || n.plane.epoch !== version) {
        return no(
          `${n.name} is at table ${n.control.state.tableVersion} (serving ${n.plane.epoch}), the leader at ${version}`,
        );
      }
    }
    const live = state.members.filter((m) => m.state === 'active').length;
    const copies = Math.min(this.options.replicationFactor, live);
    const stuck: number[] = [];
    const unsettled: string[] = [];
    state.table.forEach((a, p) => {
      const primary = a.primary === null ? undefined : state.member(a.primary);
      if (primary === undefined || primary.state === 'dead') {
        stuck.push(p);
        return;
      }
      if (a.backups.length + 1 !== copies || a.inSync.length !== copies) {
        unsettled.push(
          `p${p} e${a.epoch} primary=${a.primary} backups=[${a.backups.join(',')}] inSync=[${a.inSync.join(',')}]`,
        );
      }
    });
    const why = unsettled.length === 0 ? '' : `not fully replicated: ${unsettled.join('; ')}`;
    return { ok: unsettled.length === 0, stuck, why };
  }
}
