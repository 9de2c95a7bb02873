/**
 * An in-memory cluster of RaftNodes for tests: a network that can drop, duplicate, delay,
 * reorder and partition messages, nodes that crash and restart from what their Readies
 * persisted (and nothing else), and a safety checker that watches every step.
 *
 * Everything is decided by one seed: the network's faults and every node's randomness. Two
 * ways to drive it:
 * - step by step, for scenario tests: `tick`, `campaign`, `stabilize` (deliver until quiet,
 *   in order, no delay), with `filter` and partitions to shape what gets through;
 * - `simStep`, for the randomized simulation: one tick of time, with delayed delivery.
 *
 * The runtime side of the Ready contract is written out in `handleReady`: persist, then send,
 * then apply, then answer reads, then advance.
 */
import { SeededRandom } from '../../../src/core/random.js';
import {
  RaftNode,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftOptions,
  type ReadState,
  type Ready,
  type Snapshot,
} from '../../../src/raft/index.js';
import { SafetyChecker } from './checker.js';

export type Data = string;

export type Settings = Omit<
  Partial<RaftOptions<Data>>,
  'id' | 'random' | 'restore' | 'voters' | 'learners' | 'applied'
>;

/** What a node's stable storage holds: exactly what its Readies told it to persist. */
export interface Stored {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry<Data>[];
}

export interface Applied {
  readonly index: number;
  readonly data: Data;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeState(applied: readonly Applied[]): Uint8Array {
  return encoder.encode(JSON.stringify(applied));
}

export function decodeState(bytes: Uint8Array): Applied[] {
  return JSON.parse(decoder.decode(bytes)) as Applied[];
}

export class SimNode {
  raft: RaftNode<Data> | null = null;
  stored: Stored = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  /** The state machine: the commands applied, in order. */
  applied: Applied[] = [];
  appliedIndex = 0;
  readStates: ReadState[] = [];
  incarnation = 0;

  constructor(
    readonly id: NodeId,
    /** The membership the node was started with: the founders', or empty for a joiner. */
    readonly initialVoters: readonly NodeId[],
    readonly initialLearners: readonly NodeId[],
  ) {}

  get alive(): boolean {
    return this.raft !== null;
  }

  /** The node, which must be running. */
  get r(): RaftNode<Data> {
    if (this.raft === null) throw new Error(`${this.id} is not running`);
    return this.raft;
  }

  appliedData(): Data[] {
    return this.applied.map((a) => a.data);
  }
}

export interface ClusterOptions {
  voters: readonly NodeId[];
  learners?: readonly NodeId[];
  seed?: number;
  settings?: Settings;
  /** Per node, what its storage holds at start, as if written by an earlier incarnation. */
  storage?: Readonly<Record<NodeId, Stored>>;
  /** Per node, settings that override `settings`. */
  nodeSettings?: Readonly<Record<NodeId, Settings>>;
}

export interface Faults {
  /** Probability that a message is lost. */
  drop: number;
  /** Probability that a message is delivered twice. */
  duplicate: number;
  /** Messages take 1..maxDelay simStep()s to arrive; 1 keeps order. */
  maxDelay: number;
}

interface InFlight {
  readonly m: Message<Data>;
  readonly at: number;
}

export class Cluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly random: SeededRandom;
  readonly checker = new SafetyChecker();
  readonly settings: Settings;
  private readonly nodeSettings: Readonly<Record<NodeId, Settings>>;
  faults: Faults = { drop: 0, duplicate: 0, maxDelay: 1 };
  /** Return false to drop a message at delivery (scenario tests). */
  filter: ((m: Message<Data>) => boolean) | null = null;
  /** Rewrites messages in flight: for planting bugs the checker must catch. */
  rewrite: ((m: Message<Data>) => Message<Data>) | null = null;
  /** Every message delivered, for tests that look at the traffic. */
  delivered: Message<Data>[] = [];
  recordDeliveries = false;
  now = 0;
  /** Crash a node half-way through its Ready (after persisting, mid-send) with this chance. */
  crashMidReady = 0;
  private queue: InFlight[] = [];
  private readonly blocked = new Set<string>();

  constructor(options: ClusterOptions) {
    this.random = new SeededRandom(options.seed ?? 1);
    this.settings = options.settings ?? {};
    const learners = options.learners ?? [];
    this.nodeSettings = options.nodeSettings ?? {};
    for (const id of [...options.voters, ...learners]) {
      const node = new SimNode(id, options.voters, learners);
      const stored = options.storage?.[id];
      if (stored !== undefined) node.stored = { ...stored, entries: [...stored.entries] };
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): RaftNode<Data> {
    return this.node(id).r;
  }

  /** A node that joins later: it starts empty and learns the membership from the leader. */
  addNode(id: NodeId): SimNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`);
    const node = new SimNode(id, [], []);
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  private start(node: SimNode): void {
    const s = node.stored;
    node.raft = new RaftNode<Data>({
      ...this.settings,
      ...this.nodeSettings[node.id],
      id: node.id,
      voters: node.initialVoters,
      learners: node.initialLearners,
      restore: {
        hardState: s.hardState,
        snapshot: s.snapshot,
        entries: [...s.entries],
      },
      random: new SeededRandom(this.random.nextUint32()),
    });
    node.applied = s.snapshot === null ? [] : decodeState(s.snapshot.data);
    node.appliedIndex = s.snapshot?.meta.index ?? 0;
    node.readStates = [];
    this.checker.onRestart(node.id);
    this.handleReady(node);
  }

  /** Stops a node: everything not persisted by a handled Ready is gone. */
  crash(id: NodeId): void {
    this.node(id).raft = null;
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.alive) throw new Error(`${id} is running`);
    node.incarnation++;
    this.start(node);
  }

  // ---------------------------------------------------------------------------------------
  // The network

  /** Cuts every link between the groups; nodes not named stay connected to everyone. */
  partition(...groups: readonly (readonly NodeId[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i] ?? []) for (const b of groups[j] ?? []) this.cut(a, b);
      }
    }
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut(id, other);
      this.cut(other, id);
    }
  }

  /** Cuts the link from `a` to `b` (one way). */
  cut(a: NodeId, b: NodeId): void {
    this.blocked.add(`${a}>${b}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  private send(m: Message<Data>): void {
    const msg = this.rewrite === null ? m : this.rewrite(m);
    if (this.faults.drop > 0 && this.random.next() < this.faults.drop) return;
    this.queue.push({ m: msg, at: this.now + this.delay() });
    if (this.faults.duplicate > 0 && this.random.next() < this.faults.duplicate) {
      this.queue.push({ m: msg, at: this.now + this.delay() });
    }
  }

  private delay(): number {
    return 1 + this.random.int(Math.max(1, this.faults.maxDelay));
  }

  private deliver(m: Message<Data>): SimNode | null {
    if (this.blocked.has(`${m.from}>${m.to}`)) return null;
    if (this.filter !== null && !this.filter(m)) return null;
    const node = this.nodes.get(m.to);
    if (node?.raft == null) return null;
    if (this.recordDeliveries) this.delivered.push(m);
    node.raft.step(m);
    return node;
  }

  /** Messages waiting in the network. */
  get inFlight(): readonly Message<Data>[] {
    return this.queue.map((f) => f.m);
  }

  /** Forgets every message in flight. */
  dropAll(): void {
    this.queue = [];
  }

  // ---------------------------------------------------------------------------------------
  // Driving

  /** Delivers messages in order, handling Readies after each, until nothing is in flight. */
  stabilize(maxDeliveries = 100_000): void {
    this.handleAllReadies();
    let n = 0;
    while (this.queue.length > 0) {
      const next = this.queue.shift();
      if (next === undefined) break;
      const node = this.deliver(next.m);
      if (node !== null) this.handleReady(node);
      if (++n > maxDeliveries) throw new Error('stabilize: the cluster does not quiesce');
    }
    this.checker.checkStep(this.nodes.values());
  }

  tick(id: NodeId, times = 1): void {
    const node = this.node(id);
    for (let i = 0; i < times; i++) {
      node.r.tick();
      this.handleReady(node);
    }
    this.checker.checkStep(this.nodes.values());
  }

  /** Ticks every running node once per round, delivering everything after each round. */
  tickAll(rounds = 1): void {
    for (let i = 0; i < rounds; i++) {
      for (const node of this.nodes.values()) {
        if (node.raft === null) continue;
        node.raft.tick();
        this.handleReady(node);
      }
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.raft(id).campaign();
    this.handleReady(this.node(id));
  }

  /** Ticks until some node leads (delivering everything each round); returns it. */
  electLeader(maxRounds = 200): NodeId {
    for (let i = 0; i < maxRounds; i++) {
      const l = this.leader();
      if (l !== null) return l;
      this.tickAll();
    }
    throw new Error(`no leader after ${maxRounds} rounds`);
  }

  /** The running node that leads in the highest term, or null. */
  leader(): NodeId | null {
    let best: NodeId | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      const s = node.raft?.status();
      if (s?.role === 'leader' && s.term > bestTerm) {
        best = s.id;
        bestTerm = s.term;
      }
    }
    return best;
  }

  leaders(): NodeId[] {
    const out: NodeId[] = [];
    for (const node of this.nodes.values()) {
      if (node.raft?.status().role === 'leader') out.push(node.id);
    }
    return out;
  }

  propose(id: NodeId, data: Data): ReturnType<RaftNode<Data>['propose']> {
    const result = this.raft(id).propose(data);
    this.handleReady(this.node(id));
    return result;
  }

  readIndex(id: NodeId, requestId: string): ReturnType<RaftNode<Data>['readIndex']> {
    this.checker.onReadIssued(requestId, this.maxCommit());
    const result = this.raft(id).readIndex(requestId);
    this.handleReady(this.node(id));
    return result;
  }

  /** Highest commit index any running node knows now, or any node ever knew. */
  maxCommit(): number {
    let max = this.checker.maxCommit;
    for (const node of this.nodes.values()) {
      max = Math.max(max, node.raft?.status().commit ?? 0);
    }
    return max;
  }

  /** The application compacts: snapshot of its state at what it applied. */
  compact(id: NodeId): void {
    const node = this.node(id);
    node.r.compact(node.appliedIndex, encodeState(node.applied));
    this.handleReady(node);
  }

  /**
   * One unit of simulated time: deliver what is due (in the order the delays produced),
   * tick every running node, then let every node handle its Ready.
   */
  simStep(beforeReady?: () => void): void {
    this.now++;
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.queue) (f.at <= this.now ? due : later).push(f);
    this.queue = later;
    for (const f of due) this.deliver(f.m);
    for (const node of this.nodes.values()) node.raft?.tick();
    // Crashing here loses whatever the deliveries and ticks changed without persisting.
    beforeReady?.();
    this.handleAllReadies();
    this.checker.checkStep(this.nodes.values());
  }

  handleAllReadies(): void {
    for (const node of this.nodes.values()) this.handleReady(node);
  }

  /** The runtime's half of the Ready contract. */
  handleReady(node: SimNode): void {
    while (node.raft?.hasReady() === true) {
      const raft = node.raft;
      const rd = raft.ready();
      this.persist(node, rd);
      this.checker.onPersist(node.id, rd.entriesToPersist, raft);
      if (this.crashMidReady > 0 && this.random.next() < this.crashMidReady) {
        // Persisted, then died while sending: some messages left, none applied.
        const sent = this.random.int(rd.messages.length + 1);
        for (const m of rd.messages.slice(0, sent)) this.send(m);
        node.raft = null;
        return;
      }
      for (const m of rd.messages) this.send(m);
      if (rd.snapshotToApply !== undefined) {
        node.applied = decodeState(rd.snapshotToApply.data);
        node.appliedIndex = rd.snapshotToApply.meta.index;
        this.checker.onSnapshotLoaded(node.id, node.applied);
      }
      const term = raft.status().term;
      for (const e of rd.committedEntries) {
        if (e.index !== node.appliedIndex + 1) {
          throw new Error(`${node.id} applies ${e.index} after ${node.appliedIndex}`);
        }
        this.checker.onApply(node.id, e, term);
        if (e.kind === 'normal') node.applied.push({ index: e.index, data: e.data });
        node.appliedIndex = e.index;
      }
      for (const rs of rd.readStates) {
        this.checker.onReadState(node.id, rs, node.appliedIndex);
        node.readStates.push(rs);
      }
      raft.advance();
    }
  }

  private persist(node: SimNode, rd: Ready<Data>): void {
    const s = node.stored;
    let entries = s.entries;
    if (rd.snapshotToPersist !== undefined) {
      s.snapshot = rd.snapshotToPersist;
      const at = rd.snapshotToPersist.meta.index;
      entries = entries.filter((e) => e.index > at);
    }
    if (rd.truncateFrom !== undefined) {
      const from = rd.truncateFrom;
      entries = entries.filter((e) => e.index < from);
    }
    for (const e of rd.entriesToPersist) {
      const base = s.snapshot?.meta.index ?? 0;
      const next = (entries[entries.length - 1]?.index ?? base) + 1;
      if (e.index < next) {
        // Rewriting a stored index is allowed only with the same entry; a different one
        // needed an explicit truncateFrom.
        const old = entries.find((x) => x.index === e.index);
        if (old !== undefined && old.term !== e.term) {
          throw new Error(
            `${node.id}: Ready overwrites stored entry ${e.index} (term ${old.term} -> ${e.term}) ` +
              'without truncateFrom',
          );
        }
        entries = entries.filter((x) => x.index < e.index);
      } else if (e.index > next) {
        throw new Error(`${node.id}: Ready leaves a gap: entry ${e.index} after ${next - 1}`);
      }
      entries.push(e);
    }
    s.entries = entries;
    if (rd.hardState !== undefined) s.hardState = rd.hardState;
    const last = entries[entries.length - 1]?.index ?? s.snapshot?.meta.index ?? 0;
    if (s.hardState.commit > last) {
      throw new Error(`${node.id}: persisted commit ${s.hardState.commit} beyond stored ${last}`);
    }
  }
}
