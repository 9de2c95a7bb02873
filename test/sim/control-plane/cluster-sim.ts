/**
 * A deterministic simulation of a cluster's control plane: the real ControlPlane class of
 * every node (Raft, the cluster state, the controller, placement), wired to a simulated
 * network, a virtual clock, in-memory Raft storage and seeded randomness. The data plane is
 * left out: new copies are reported caught up at once (see reportCaughtUp). One seed decides
 * the whole run: which messages are lost or delayed, when links are cut, which node
 * crashes. Nothing here reads the wall clock or sleeps, so a run of minutes of cluster time
 * takes seconds, and the same seed replays exactly.
 *
 * What a run checks, after every step:
 * - every node that has applied the log up to an index holds the same cluster state there
 *   as every other node did at that index (state machine safety, seen from the application);
 * - every node's partition table is well formed (control/placement.ts's tableProblem);
 * and, after the faults are healed, that the cluster converges within a bound: every
 * partition with a primary and all its copies in sync, on every node, at one table version.
 *
 * What a run measures (for the scale tests, hundred-nodes.test.ts and scripts/sim-scale.ts):
 * messages and wire bytes sent and received per node, elections, and every member the log
 * declared dead while its node was in fact running (a false failure detection).
 *
 * Scale. A step costs O(N + messages due) plus, per applied change, O(P) per node for the
 * state check: the queue is a binary heap (sorting the whole queue every step was O(Q log Q)
 * per step), the state check hashes each partition's assignment once per object (tables share
 * unchanged assignments between versions) and checks a table's shape once per log index, not
 * once per node. A 100-node cluster runs a virtual minute in a few seconds.
 */
import { SeededRandom } from '../../../src/core/random.js';
import {
  planMoves,
  tableProblem,
  type ClusterState,
  type ControlCommand,
  type PartitionAssignment,
  type PartitionTable,
} from '../../../src/control/index.js';
import { encodeRequest } from '../../../src/protocol/index.js';
import { ControlPlane } from '../../../src/node/control-plane.js';
import { MemoryRaftStorage } from '../../../src/node/raft-storage.js';
import { silentLogger } from '../../../src/node/logger.js';
import type { Message } from '../../../src/raft/index.js';

export interface SimOptions {
  readonly seed: number;
  readonly partitions: number;
  /** Default 2, as a new cluster's. */
  readonly replicationFactor?: number;
  /** Virtual milliseconds per step; every node ticks once per step. Default 50, as a node's. */
  readonly tickMs?: number;
  readonly failureTimeoutMs: number;
  /** Raft ticks per election timeout; default 10, as start-node.ts uses. */
  readonly electionTimeoutTicks?: number;
  /**
   * Count the wire bytes of every message (its frame as peer-network.ts would send it). Costs
   * an encoding per message, so it is off unless asked for.
   */
  readonly measureBytes?: boolean;
}

interface InFlight {
  readonly deliverAt: number;
  readonly order: number;
  readonly message: Message<ControlCommand>;
}

/** Traffic of one node, counted since the node started or since `resetTraffic`. */
export interface NodeTraffic {
  sent: number;
  received: number;
  bytesSent: number;
  bytesReceived: number;
}

/** A member the log declared dead, and whether its node was running at that moment. */
export interface DeathDeclared {
  readonly id: string;
  readonly at: number;
  readonly index: number;
  /**
   * True when the node was running and had been out (crashed or stalled) for less than the
   * failure timeout lately: silence a failure detector may not call death. Cut links are not
   * counted as outages; the scale tests cut none.
   */
  readonly wasRunning: boolean;
}

/**
 * The in-flight messages, ordered by (deliverAt, order): a binary heap, so a step takes the
 * due messages in O(k log Q) instead of filtering and sorting the whole queue.
 */
class MessageHeap {
  private readonly items: InFlight[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: InFlight): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, items[parent] as InFlight)) break;
      items[i] = items[parent] as InFlight;
      i = parent;
    }
    items[i] = item;
  }

  /** The earliest message, if it is due at `now`. */
  popDue(now: number): InFlight | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined || top.deliverAt > now) return undefined;
    const last = items.pop() as InFlight;
    if (items.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child =
        right < items.length && before(items[right] as InFlight, items[left] as InFlight)
          ? right
          : left;
      if (!before(items[child] as InFlight, last)) break;
      items[i] = items[child] as InFlight;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

function before(a: InFlight, b: InFlight): boolean {
  return a.deliverAt < b.deliverAt || (a.deliverAt === b.deliverAt && a.order < b.order);
}

export interface SimNode {
  readonly name: string;
  readonly id: string;
  plane: ControlPlane;
  readonly storage: MemoryRaftStorage<ControlCommand>;
  up: boolean;
  /** While now < stalledUntil the node's loop is blocked: it neither ticks nor reads. */
  stalledUntil: number;
  /** Messages that reached it during a stall, read when it resumes (a socket buffers them). */
  held: Message<ControlCommand>[];
  /** The node's last crash or stall; `to` is Infinity while it lasts. */
  lastOutage: { from: number; to: number } | null;
  readonly traffic: NodeTraffic;
  /** The state check's cache of this node's table fingerprint. */
  tableHash?: TableHashCache;
}

function mix(h: number, x: number): number {
  return Math.imul(h ^ x, 0x01000193) >>> 0;
}

function stringHash(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = mix(h, s.charCodeAt(i));
  return mix(h, 0xff);
}

/**
 * A fingerprint of an assignment, cached per object: a new table version shares every
 * assignment it did not change with the one before, so fingerprinting a table after a change
 * hashes only what changed.
 */
const assignmentHashes = new WeakMap<PartitionAssignment, number>();
function assignmentHash(a: PartitionAssignment): number {
  let h = assignmentHashes.get(a);
  if (h !== undefined) return h;
  h = mix(0x811c9dc5, a.epoch);
  h = stringHash(h, a.primary ?? '');
  for (const n of a.backups) h = stringHash(h, n);
  h = mix(h, 0xfe);
  for (const n of a.inSync) h = stringHash(h, n);
  assignmentHashes.set(a, h);
  return h;
}

/**
 * One node's table fingerprint, kept between changes: per partition the mixed hash of its
 * assignment, summed, so a new table version costs a pointer comparison per partition and a
 * hash of each assignment that changed.
 */
interface TableHashCache {
  table: PartitionTable;
  parts: Uint32Array;
  sum: number;
}

function tableHash(table: PartitionTable, cache: TableHashCache | undefined): TableHashCache {
  const c =
    cache !== undefined && cache.parts.length === table.length
      ? cache
      : { table: [], parts: new Uint32Array(table.length), sum: 0 };
  let sum = c.sum;
  for (let p = 0; p < table.length; p++) {
    const a = table[p] as PartitionAssignment;
    if (c.table[p] === a) continue;
    const part = mix(mix(0x811c9dc5, p), assignmentHash(a));
    sum = (sum - (c.parts[p] as number) + part) >>> 0;
    c.parts[p] = part;
  }
  return { table, parts: c.parts, sum };
}

/** A fingerprint of the whole cluster state: ids, settings, members and the table. */
function stateHash(state: ClusterState, cache: TableHashCache): number {
  let h = stringHash(0x811c9dc5, state.clusterId ?? '');
  h = mix(h, state.tableVersion);
  h = mix(h, state.settings?.partitionCount ?? 0);
  h = mix(h, state.settings?.replicationFactor ?? 0);
  for (const m of state.members) {
    h = stringHash(h, m.id);
    h = stringHash(h, m.name);
    h = stringHash(h, m.address);
    h = stringHash(h, m.state);
    h = stringHash(h, m.zone ?? '');
  }
  return mix(h, cache.sum);
}

export class ClusterSim {
  readonly random: SeededRandom;
  now = 1_700_000_000_000;
  readonly nodes = new Map<string, SimNode>();
  /** Message loss probability while faults are on. */
  lossRate = 0;
  /** Extra delay, in ms, up to which a message may be held (reordering). */
  delayMsMax = 0;
  /** Pairs of node ids that cannot reach each other (both directions). */
  private readonly cut = new Set<string>();
  private readonly queue = new MessageHeap();
  private order = 0;
  messagesSent = 0;
  private readonly stateAt = new Map<number, number>();
  violations: string[] = [];
  /** Leaders elected: every (term, leader) pair seen after a step. */
  elections = 0;
  private readonly leadersSeen = new Set<string>();
  /** Every member the log declared dead, in log order (seen by the first node to apply it). */
  readonly deaths: DeathDeclared[] = [];
  private memberStatesAt = { index: 0, states: new Map<string, string>() };

  readonly options: Required<Pick<SimOptions, 'replicationFactor' | 'tickMs'>> & SimOptions;

  constructor(options: SimOptions) {
    this.options = { replicationFactor: 2, tickMs: 50, ...options };
    this.random = new SeededRandom(options.seed);
  }

  private makePlane(
    name: string,
    id: string,
    storage: MemoryRaftStorage<ControlCommand>,
    bootstrap: boolean,
  ): ControlPlane {
    const node = (): SimNode => this.nodes.get(id)!;
    const plane = new ControlPlane({
      self: { id, name, address: `${name}:1`, state: 'active' },
      bootstrap,
      settings: {
        partitionCount: this.options.partitions,
        replicationFactor: this.options.replicationFactor,
      },
      storage,
      transport: {
        send: (message) => this.send(message),
        learn: () => undefined,
        addressOf: (memberId) => `${memberId.split('~')[0]}:1`,
      },
      clock: { now: () => this.now },
      random: new SeededRandom(this.random.nextUint32()),
      logger: silentLogger,
      electionTimeoutTicks: this.options.electionTimeoutTicks ?? 10,
      tickMs: this.options.tickMs,
      failureTimeoutMs: this.options.failureTimeoutMs,
      votersMax: 3,
      newClusterId: () => `sim-${this.options.seed}`,
      onChange: (state) => {
        const n = node();
        if (n === undefined || n.plane === undefined) return;
        const applied = n.plane.appliedIndex;
        n.tableHash = tableHash(state.table, n.tableHash);
        const hash = stateHash(state, n.tableHash);
        const seen = this.stateAt.get(applied);
        if (seen === undefined) {
          // The first node to reach an index checks the table's shape and watches the deaths;
          // every later one must hold the same state there, which the fingerprint compares.
          this.stateAt.set(applied, hash);
          const problem = tableProblem(state.table);
          if (problem !== null) this.violations.push(`${id}: bad table at ${this.now}: ${problem}`);
          this.watchDeaths(state, applied);
        } else if (seen !== hash) {
          this.violations.push(`${id}: state at index ${applied} differs from another node's`);
        }
      },
    });
    return plane;
  }

  /** Starts a node with empty storage; `bootstrap` founds a cluster, otherwise it waits to join. */
  private addNode(name: string, bootstrap: boolean): SimNode {
    const id = `${name}~0`;
    const storage = new MemoryRaftStorage<ControlCommand>();
    // The plane's callbacks look the node up by id, so it is registered before the plane exists.
    const node: SimNode = {
      name,
      id,
      storage,
      up: true,
      stalledUntil: -Infinity,
      held: [],
      lastOutage: null,
      traffic: { sent: 0, received: 0, bytesSent: 0, bytesReceived: 0 },
      plane: undefined as unknown as ControlPlane,
    };
    this.nodes.set(id, node);
    node.plane = this.makePlane(name, id, storage, bootstrap);
    return node;
  }

  /** Founds the cluster with one node. */
  bootstrap(name: string): SimNode {
    return this.addNode(name, true);
  }

  /**
   * n1 founds the cluster, n2..n`count` join, it converges and has its voters (three, or one
   * with fewer than three members): where most scenarios start.
   */
  async form(count = 5): Promise<void> {
    this.bootstrap('n1');
    this.run(5);
    for (let i = 2; i <= count; i++) await this.join(`n${i}`);
    const voters = count >= 3 ? 3 : 1;
    const hasVoters = (n: SimNode): boolean => {
      const status = n.plane.raftStatus();
      return status.membership.voters.length === voters && status.commit === status.lastIndex;
    };
    for (let i = 0; i < 2_000; i++) {
      if (this.converged() && [...this.nodes.values()].every(hasVoters)) return;
      this.step();
    }
    throw new Error(`seed ${this.options.seed}: not formed within 2000 steps`);
  }

  /** A new node asks the current leader to admit it; resolves once admitted. */
  async join(name: string): Promise<SimNode> {
    const node = this.addNode(name, false);
    const id = node.id;
    for (let attempt = 0; attempt < 200; attempt++) {
      const leader = this.leader();
      if (leader !== undefined) {
        const admitted = leader.plane.admit({
          kind: 'join',
          id: 0,
          name,
          memberId: id,
          address: `${name}:1`,
          clusterId: null,
        });
        let done = false;
        let failed = false;
        admitted.then(
          () => (done = true),
          () => (failed = true),
        );
        for (let i = 0; i < 100 && !done && !failed; i++) {
          this.step();
          await Promise.resolve();
        }
        if (done) return node;
      }
      this.step();
    }
    throw new Error(`seed ${this.options.seed}: ${name} could not join`);
  }

  /**
   * Many new nodes ask the leader at once, as a scale-out by an orchestrator would; resolves
   * once every one is admitted. Builds a large cluster in a few placement rounds instead of
   * one round per node.
   */
  async joinAll(names: readonly string[]): Promise<SimNode[]> {
    const nodes = names.map((name) => this.addNode(name, false));
    const pending = new Set(nodes.map((n) => n.id));
    for (let attempt = 0; attempt < 200 && pending.size > 0; attempt++) {
      const leader = this.leader();
      if (leader !== undefined) {
        let settled = 0;
        const asked = nodes.filter((n) => pending.has(n.id));
        for (const node of asked) {
          leader.plane
            .admit({
              kind: 'join',
              id: 0,
              name: node.name,
              memberId: node.id,
              address: `${node.name}:1`,
              clusterId: null,
            })
            .then(
              () => pending.delete(node.id),
              () => undefined,
            )
            .finally(() => settled++);
        }
        for (let i = 0; i < 100 && settled < asked.length; i++) {
          this.step();
          await Promise.resolve();
        }
        // Let the last answers' continuations run.
        await Promise.resolve();
      }
      this.step();
    }
    if (pending.size > 0) {
      throw new Error(`seed ${this.options.seed}: ${[...pending].join(', ')} could not join`);
    }
    return nodes;
  }

  leader(): SimNode | undefined {
    for (const n of this.nodes.values()) if (n.up && n.plane.isLeader) return n;
    return undefined;
  }

  /** Every running node that believes it leads (more than one only across terms). */
  leaders(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up && n.plane.isLeader);
  }

  crash(id: string): void {
    const n = this.nodes.get(id)!;
    n.up = false;
    n.held = [];
    n.lastOutage = { from: this.now, to: Infinity };
  }

  /**
   * Blocks a node's event loop for `ms`, as a long computation, a GC pause or a slow disk
   * would: it neither ticks nor reads. Its peers' messages wait in its socket buffer, and when
   * it resumes it runs its timer first and reads them after, as Node's event loop does (the
   * timers phase comes before the poll phase).
   */
  stall(id: string, ms: number): void {
    const n = this.nodes.get(id)!;
    n.stalledUntil = this.now + ms;
    n.lastOutage = { from: this.now, to: this.now + ms };
  }

  private isStalled(n: SimNode): boolean {
    return this.now < n.stalledUntil;
  }

  /** Zeroes every node's traffic counters, to measure from here on. */
  resetTraffic(): void {
    for (const n of this.nodes.values()) {
      n.traffic.sent = 0;
      n.traffic.received = 0;
      n.traffic.bytesSent = 0;
      n.traffic.bytesReceived = 0;
    }
  }

  /** Records the members that `state`, at log index `index`, newly declares dead. */
  private watchDeaths(state: ClusterState, index: number): void {
    if (index <= this.memberStatesAt.index) return;
    const states = new Map<string, string>();
    for (const m of state.members) {
      states.set(m.id, m.state);
      if (m.state === 'dead' && this.memberStatesAt.states.get(m.id) !== 'dead') {
        const n = this.nodes.get(m.id);
        const wasRunning = n !== undefined && n.up && !this.isStalled(n) && !this.wasOutLong(n);
        this.deaths.push({ id: m.id, at: this.now, index, wasRunning });
      }
    }
    this.memberStatesAt = { index, states };
  }

  /**
   * Whether `n` was out for at least a failure timeout, recently enough (within two failure
   * timeouts) that a detector may still be catching up with it.
   */
  private wasOutLong(n: SimNode): boolean {
    const o = n.lastOutage;
    const timeout = this.options.failureTimeoutMs;
    return o !== null && o.to - o.from >= timeout && this.now - o.to < 2 * timeout;
  }

  /** Deaths declared while the node was running: the failure detector was wrong. */
  falseDetections(): DeathDeclared[] {
    return this.deaths.filter((d) => d.wasRunning);
  }

  /** Restarts a crashed node from what its storage persisted (a node with a data dir). */
  restart(id: string): void {
    const n = this.nodes.get(id)!;
    n.plane.close();
    n.plane = this.makePlane(n.name, n.id, n.storage, false);
    n.up = true;
    if (n.lastOutage !== null) n.lastOutage = { ...n.lastOutage, to: this.now };
  }

  cutLink(a: string, b: string): void {
    this.cut.add(`${a}|${b}`).add(`${b}|${a}`);
  }

  isolate(id: string): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  heal(): void {
    this.cut.clear();
    this.lossRate = 0;
    this.delayMsMax = 0;
  }

  private send(message: Message<ControlCommand>): void {
    this.messagesSent++;
    const from = this.nodes.get(message.from);
    if (from !== undefined) {
      from.traffic.sent++;
      if (this.options.measureBytes === true) from.traffic.bytesSent += wireBytes(message);
    }
    if (this.lossRate > 0 && this.random.next() < this.lossRate) return;
    const delay = this.delayMsMax > 0 ? this.random.int(this.delayMsMax) : 0;
    this.queue.push({ deliverAt: this.now + delay, order: this.order++, message });
  }

  private deliver(to: SimNode, message: Message<ControlCommand>): void {
    to.traffic.received++;
    if (this.options.measureBytes === true) to.traffic.bytesReceived += wireBytes(message);
    to.plane.receive(message, message.from);
  }

  /** One tick of virtual time: deliver what is due, then tick every live node. */
  step(): void {
    this.now += this.options.tickMs;
    // Taken out first, so what the deliveries send waits for the next step, as before.
    const due: InFlight[] = [];
    for (let m = this.queue.popDue(this.now); m !== undefined; m = this.queue.popDue(this.now)) {
      due.push(m);
    }
    const resuming: SimNode[] = [];
    for (const n of this.nodes.values()) {
      if (n.up && n.held.length > 0 && !this.isStalled(n)) resuming.push(n);
    }
    for (const { message } of due) {
      const to = this.nodes.get(message.to);
      if (to === undefined || !to.up || this.cut.has(`${message.from}|${message.to}`)) continue;
      if (this.isStalled(to) || to.held.length > 0) to.held.push(message);
      else this.deliver(to, message);
    }
    for (const n of this.nodes.values()) {
      if (n.up && !this.isStalled(n) && !resuming.includes(n)) n.plane.tick();
    }
    // A node back from a stall: its timer fires first, then it reads what waited.
    for (const n of resuming) {
      n.plane.tick();
      const held = n.held;
      n.held = [];
      for (const message of held) if (n.up) this.deliver(n, message);
    }
    this.countElections();
    this.reportCaughtUp();
  }

  private countElections(): void {
    for (const n of this.nodes.values()) {
      if (!n.up || !n.plane.isLeader) continue;
      const key = `${n.plane.raftStatus().term}/${n.id}`;
      if (!this.leadersSeen.has(key)) {
        this.leadersSeen.add(key);
        this.elections++;
      }
    }
  }

  /**
   * Stands in for the data plane, which this simulation leaves out: every new copy is caught
   * up at once, and its primary says so to the leader (what replication reports once a state
   * transfer ends). Only live primaries report, as in the real cluster.
   */
  private reportCaughtUp(): void {
    const leader = this.leader();
    if (leader === undefined || this.isStalled(leader)) return;
    const state = leader.plane.state;
    const reports: { partition: number; node: string; epoch: number }[] = [];
    state.table.forEach((a, partition) => {
      if (a.primary === null || !this.nodes.get(a.primary)?.up) return;
      for (const node of a.backups) {
        if (!a.inSync.includes(node) && this.nodes.get(node)?.up)
          reports.push({ partition, node, epoch: a.epoch });
      }
    });
    if (reports.length > 0) leader.plane.report(reports, []);
  }

  run(steps: number): void {
    for (let i = 0; i < steps; i++) this.step();
  }

  /** True when every live node sees every partition served and replicated, at one table version. */
  converged(): boolean {
    const live = [...this.nodes.values()].filter((n) => n.up);
    const versions = new Set<number>();
    for (const n of live) {
      const s = n.plane.status();
      if (s.health !== 'ok') return false;
      versions.add(s.tableVersion);
    }
    return versions.size === 1;
  }

  /**
   * True when converged and placement has nothing left to do: every rebalance is over, not
   * just between two rounds of moves (which `converged` cannot tell, since this simulation
   * catches copies up at once).
   */
  settled(): boolean {
    if (!this.converged()) return false;
    const leader = this.leader();
    const settings = leader?.plane.state.settings;
    if (leader === undefined || settings === undefined || settings === null) return false;
    const state = leader.plane.state;
    // A copy in transfer is a move not finished; the plan is empty while the budget is spent.
    const inTransfer = state.table.some(
      (a) => a.inSync.length !== a.backups.length + (a.primary === null ? 0 : 1),
    );
    if (inTransfer) return false;
    const members = state.members.map((m) => ({
      id: m.id,
      state: m.state,
      ...(m.zone !== undefined && { zone: m.zone }),
    }));
    const plan = planMoves(state.table, members, {
      replicationFactor: settings.replicationFactor,
    });
    return plan.changes.length === 0;
  }

  /** Steps until settled; returns the steps it took, or throws after `stepsMax`. */
  runUntilSettled(stepsMax: number): number {
    let checkedVersion = -1;
    for (let i = 0; i < stepsMax; i++) {
      // A plan costs up to a few hundred ms at 200 nodes: check once per table version.
      const version = this.leader()?.plane.state.tableVersion ?? -1;
      if (version !== checkedVersion && this.converged()) {
        checkedVersion = version;
        if (this.settled()) return i;
      }
      this.step();
    }
    throw new Error(`seed ${this.options.seed}: not settled within ${stepsMax} steps`);
  }

  /** Steps until converged; returns the steps it took, or throws after `stepsMax`. */
  runUntilConverged(stepsMax: number): number {
    for (let i = 0; i < stepsMax; i++) {
      if (this.converged()) return i;
      this.step();
    }
    throw new Error(`seed ${this.options.seed}: not converged within ${stepsMax} steps`);
  }
}

/** The bytes a Raft message takes on a peer link: its request body and a 4-byte length. */
function wireBytes(message: Message<ControlCommand>): number {
  return encodeRequest({ kind: 'raft', id: 0, message }).byteLength + 4;
}

/**
 * Copies in `after` that `before` did not have (partition, node): the state transfers a
 * change of the table costs. A promotion or a primary hand-off moves no copy.
 */
export function copiesCreated(before: PartitionTable, after: PartitionTable): number {
  let created = 0;
  after.forEach((a, p) => {
    const old = before[p];
    const had = new Set(old === undefined ? [] : [old.primary, ...old.backups]);
    for (const n of [a.primary, ...a.backups]) if (n !== null && !had.has(n)) created++;
  });
  return created;
}

/** Copies each node holds in `table`. */
export function copiesPerNode(table: PartitionTable): Map<string, number> {
  const copies = new Map<string, number>();
  for (const a of table) {
    for (const n of [a.primary, ...a.backups]) {
      if (n !== null) copies.set(n, (copies.get(n) ?? 0) + 1);
    }
  }
  return copies;
}
