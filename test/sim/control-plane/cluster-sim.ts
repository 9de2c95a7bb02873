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
 */
import { SeededRandom } from '../../../src/core/random.js';
import { tableProblem, type ControlCommand } from '../../../src/control/index.js';
import { ControlPlane } from '../../../src/node/control-plane.js';
import { MemoryRaftStorage } from '../../../src/node/raft-storage.js';
import { silentLogger } from '../../../src/node/logger.js';
import type { Message } from '../../../src/raft/index.js';

export interface SimOptions {
  readonly seed: number;
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Virtual milliseconds per step; every node ticks once per step. */
  readonly tickMs: number;
  readonly failureTimeoutMs: number;
}

interface InFlight {
  readonly deliverAt: number;
  readonly order: number;
  readonly message: Message<ControlCommand>;
}

export interface SimNode {
  readonly name: string;
  readonly id: string;
  plane: ControlPlane;
  readonly storage: MemoryRaftStorage<ControlCommand>;
  up: boolean;
}

function bytesHash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
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
  private queue: InFlight[] = [];
  private order = 0;
  messagesSent = 0;
  private readonly stateAt = new Map<number, number>();
  violations: string[] = [];

  constructor(readonly options: SimOptions) {
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
      electionTimeoutTicks: 10,
      tickMs: this.options.tickMs,
      failureTimeoutMs: this.options.failureTimeoutMs,
      votersMax: 3,
      newClusterId: () => `sim-${this.options.seed}`,
      onChange: (state) => {
        const n = node();
        if (n === undefined) return;
        const problem = tableProblem(state.table);
        if (problem !== null) this.violations.push(`${id}: bad table at ${this.now}: ${problem}`);
        const applied = n.plane?.status().applied ?? 0;
        const hash = bytesHash(state.snapshot());
        const seen = this.stateAt.get(applied);
        if (seen === undefined) this.stateAt.set(applied, hash);
        else if (seen !== hash)
          this.violations.push(`${id}: state at index ${applied} differs from another node's`);
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

  leader(): SimNode | undefined {
    for (const n of this.nodes.values()) if (n.up && n.plane.isLeader) return n;
    return undefined;
  }

  crash(id: string): void {
    this.nodes.get(id)!.up = false;
  }

  /** Restarts a crashed node from what its storage persisted (a node with a data dir). */
  restart(id: string): void {
    const n = this.nodes.get(id)!;
    n.plane.close();
    n.plane = this.makePlane(n.name, n.id, n.storage, false);
    n.up = true;
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
    if (this.lossRate > 0 && this.random.next() < this.lossRate) return;
    const delay = this.delayMsMax > 0 ? this.random.int(this.delayMsMax) : 0;
    this.queue.push({ deliverAt: this.now + delay, order: this.order++, message });
  }

  /** One tick of virtual time: deliver what is due, then tick every live node. */
  step(): void {
    this.now += this.options.tickMs;
    const due = this.queue
      .filter((m) => m.deliverAt <= this.now)
      .sort((a, b) => a.deliverAt - b.deliverAt || a.order - b.order);
    this.queue = this.queue.filter((m) => m.deliverAt > this.now);
    for (const { message } of due) {
      const to = this.nodes.get(message.to);
      if (to === undefined || !to.up || this.cut.has(`${message.from}|${message.to}`)) continue;
      to.plane.receive(message, message.from);
    }
    for (const n of this.nodes.values()) if (n.up) n.plane.tick();
    this.reportCaughtUp();
  }

  /**
   * Stands in for the data plane, which this simulation leaves out: every new copy is caught
   * up at once, and its primary says so to the leader (what replication reports once a state
   * transfer ends). Only live primaries report, as in the real cluster.
   */
  private reportCaughtUp(): void {
    const leader = this.leader();
    if (leader === undefined) return;
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

  /** Steps until converged; returns the steps it took, or throws after `stepsMax`. */
  runUntilConverged(stepsMax: number): number {
    for (let i = 0; i < stepsMax; i++) {
      if (this.converged()) return i;
      this.step();
    }
    throw new Error(`seed ${this.options.seed}: not converged within ${stepsMax} steps`);
  }
}
