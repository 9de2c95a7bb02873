/**
 * One run of the data-plane simulator, decided by one seed (VOPR style):
 *
 * 1. Start: five nodes form a cluster (n1 founds it, the others are admitted) and settle.
 * 2. Safety phase: clients run while a nemesis injects faults from the seed: loss, delay,
 *    duplication, node isolation, symmetric and one-way link cuts, crashes with restarts (from
 *    the data dir or as a new incarnation, each with a clock jump), pauses, clock drift,
 *    drains followed by a join of the drained machine as a new incarnation, and the sequence
 *    that tests the in-sync rule: cut a primary from its backup for longer than the ack
 *    timeout, so the backup leaves the in-sync set, then crash the primary.
 * 3. Liveness phase: every fault healed, every node back; the cluster must settle within a
 *    bound, and then every key whose partition kept an in-sync copy must answer again.
 * 4. The clients' history is checked per key: registers against the register model
 *    (Wing-Gong-Lowe), counters and sets by checker/commutative.ts (every acknowledged
 *    increment counted exactly once, no acknowledged addition lost), keys with a TTL by
 *    checker/expiry.ts (no value read after every clock says it expired, none gone before
 *    any clock could say so, with the clocks' spread in the run as the margin).
 *
 * The result carries the trace hash (two runs of one seed must agree byte for byte), the
 * history as Jepsen JSON lines, and, for a violation, the trace around it.
 */
import { partitionOf } from '../../../src/core/keys.js';
import type { PlantedBug } from '../../../src/core/planted-bug.js';
import {
  checkCommutative,
  checkExpiry,
  checkLinearizable,
  pairOperations,
  registerModel,
  toJsonLines,
  type Violation,
} from '../checker/index.js';
import { Clients, keyKind, operationDeadlineMs, ttlKeyTtlMs } from './clients.js';
import { SeededRandom } from '../../../src/core/random.js';
import { World, stepMs, type SimNode } from './world.js';

export interface RunOptions {
  readonly seed: number;
  readonly plantedBug?: PlantedBug;
  /** Virtual ms of the safety phase. Default 20,000. */
  readonly safetyMs?: number;
}

export interface RunResult {
  readonly seed: number;
  readonly plantedBug: PlantedBug | null;
  readonly ok: boolean;
  /** Linearizability violations, each with the trace around it. */
  readonly violations: string[];
  /** Everything else that went wrong: no convergence, no answers after healing, bad messages. */
  readonly problems: string[];
  readonly traceHash: string;
  readonly faults: number;
  /** Clocks that jumped across a restart (world.ts), and the largest jump in ms. */
  readonly clockJumps: number;
  readonly clockJumpMsMax: number;
  /** The largest difference between two clocks' errors in the run: the expiry check's margin. */
  readonly clockSpreadMs: number;
  /** Reads of TTL keys that found the key expired, and of those, how many the check could judge. */
  readonly expiredReads: number;
  readonly expiredReadsJudged: number;
  readonly operations: number;
  readonly stats: Clients['stats'];
  readonly stuckPartitions: number;
  readonly settleMs: number;
  readonly virtualMs: number;
  readonly wallMs: number;
  readonly historyJsonLines: string;
  readonly trace: readonly string[];
}

const nodeCount = 5;
const partitions = 8;
const replicationFactor = 2;
const clientCount = 5;
/** Registers, counters, sets and TTL keys (clients.ts keyKind), on different partitions mostly. */
const keys = ['k0', 'k1', 'k2', 'k3', 'counter0', 'counter1', 'set0', 'set1', 'ttl0', 'ttl1'];
/** The cluster must settle within this after the faults heal: a few failure timeouts, transfers. */
const settleMsMax = 30_000;
/** After settling, the longest clients run; every key with a surviving copy must answer in it. */
const livenessMsMax = 15_000;

/** The command that replays one seed, printed with every failure. */
export function replayCommand(seed: number, bug: PlantedBug | null): string {
  return `npm run sim -- --seed ${seed}${bug === null ? '' : ` --bug ${bug}`} --trace`;
}

interface ActiveFault {
  readonly endAt: number;
  readonly node: SimNode | null;
  readonly undo: () => void;
}

/** The fault injector: one schedule per seed, drawn from its own random stream. */
class Nemesis {
  faults = 0;
  private active: ActiveFault[] = [];
  private nextAt: number;

  constructor(
    private readonly world: World,
    private readonly random: SeededRandom,
  ) {
    this.nextAt = world.now + 200;
  }

  private pickNode(exclude?: SimNode): SimNode {
    const nodes = this.world.nodes.filter((n) => n !== exclude);
    return nodes[this.random.int(nodes.length)]!;
  }

  /** Mostly the primary (or its backup) of a key's partition: where faults hurt. */
  private target(): { primary: SimNode; backup: SimNode } {
    const leader = this.world.leader();
    if (leader !== undefined && this.random.next() < 0.7) {
      const p = partitionOf(keys[this.random.int(keys.length)]!, partitions);
      const a = leader.control.state.table[p];
      const primary = a?.primary == null ? undefined : this.world.nodeByMember(a.primary);
      const backupId = a?.backups[0];
      const backup = backupId === undefined ? undefined : this.world.nodeByMember(backupId);
      if (primary !== undefined && backup !== undefined) return { primary, backup };
    }
    const primary = this.pickNode();
    return { primary, backup: this.pickNode(primary) };
  }

  /** When the last crash or pause ended. */
  private nodeFaultEndedAt = -Infinity;

  /**
   * One node down or paused at a time, and a few seconds of calm after it: with two copies,
   * a second crash while the first one's copies are still being rebuilt loses partitions
   * (rightly: stuck, not wrong), and a lost partition tells the checker nothing more.
   */
  private nodeFaultActive(): boolean {
    return (
      this.active.some((f) => f.node !== null) || this.world.now - this.nodeFaultEndedAt < 3_000
    );
  }

  private cutFor(a: SimNode, b: SimNode, oneWay: boolean): () => void {
    const keysCut = oneWay
      ? [`${a.name}>${b.name}`]
      : [`${a.name}>${b.name}`, `${b.name}>${a.name}`];
    for (const k of keysCut) this.world.cut.add(k);
    return () => keysCut.forEach((k) => this.world.cut.delete(k));
  }

  step(): void {
    const now = this.world.now;
    for (const f of this.active.filter((f) => f.endAt <= now)) {
      f.undo();
      if (f.node !== null) this.nodeFaultEndedAt = now;
    }
    this.active = this.active.filter((f) => f.endAt > now);
    if (now < this.nextAt) return;
    this.nextAt = now + 300 + this.random.int(1_200);
    const { primary, backup } = this.target();
    const kind = this.random.int(9);
    const down = (n: SimNode): boolean => !n.up || n.paused(now);
    const world = this.world;
    switch (kind) {
      case 0: {
        if (this.active.length >= 3) return;
        const ms = 1_000 + this.random.int(2_000);
        const undo: (() => void)[] = [];
        for (const other of world.nodes)
          if (other !== primary) undo.push(this.cutFor(primary, other, false));
        world.log(`ISOLATE ${primary.name} from the other nodes for ${ms} ms`);
        this.active.push({ endAt: now + ms, node: null, undo: () => undo.forEach((u) => u()) });
        break;
      }
      case 1:
      case 2: {
        if (this.active.length >= 3) return;
        const oneWay = kind === 2;
        const ms = 1_000 + this.random.int(3_000);
        const [a, b] = this.random.next() < 0.5 ? [primary, backup] : [backup, primary];
        world.log(`CUT ${a.name} ${oneWay ? '->' : '<->'} ${b.name} for ${ms} ms`);
        this.active.push({ endAt: now + ms, node: null, undo: this.cutFor(a, b, oneWay) });
        break;
      }
      case 3: {
        if (this.nodeFaultActive() || down(primary)) return;
        const ms = 300 + this.random.int(2_700);
        const resume = this.random.next() < 0.5;
        world.crash(primary);
        this.active.push({
          endAt: now + ms,
          node: primary,
          undo: () => world.restart(primary, resume),
        });
        break;
      }
      case 4: {
        if (this.nodeFaultActive() || down(primary)) return;
        const ms = 200 + this.random.int(2_300);
        world.pause(primary, ms);
        this.active.push({ endAt: now + ms, node: primary, undo: () => undefined });
        break;
      }
      case 5: {
        // The in-sync rule: the backup falls out of the in-sync set (ackTimeoutMs, 2 s, of
        // silence), writes go on with the primary alone, then the primary dies. Only a copy
        // in the in-sync set may take over; here none is left.
        if (this.nodeFaultActive() || down(primary) || primary === backup) return;
        const ms = 2_500 + this.random.int(2_000);
        const resume = this.random.next() < 0.5;
        const heal = this.cutFor(primary, backup, false);
        world.log(
          `CUT ${primary.name} <-> ${backup.name} for ${ms} ms, then CRASH ${primary.name}`,
        );
        this.active.push({
          endAt: now + ms,
          node: primary,
          undo: () => {
            heal();
            if (primary.up) world.crash(primary);
            const back = 500 + this.random.int(2_000);
            this.active.push({
              endAt: world.now + back,
              node: primary,
              undo: () => world.restart(primary, resume),
            });
          },
        });
        break;
      }
      case 6:
        world.drift(this.pickNode());
        break;
      case 7: {
        // A drain, then the machine rejoins (world.ts); other node faults wait meanwhile.
        if (this.nodeFaultActive() || world.nodes.some((n) => n.draining || down(n))) return;
        if (!world.drain(primary)) return;
        this.active.push({ endAt: now + 5_000, node: primary, undo: () => undefined });
        break;
      }
      default: {
        world.lossRate = this.random.next() * 0.08;
        world.duplicateRate = this.random.next() * 0.05;
        world.delayMsMax = 1 + this.random.int(60);
        world.log(
          `NETWORK loss ${world.lossRate.toFixed(3)} duplicates ${world.duplicateRate.toFixed(3)} delay up to ${world.delayMsMax} ms`,
        );
        break;
      }
    }
    this.faults++;
  }

  /** Ends every fault: heals links, resumes paused nodes, restarts crashed ones. */
  healAll(): void {
    for (const f of this.active) f.undo();
    this.active = [];
    // An undo may have scheduled a follow-up (the crash after a cut): end it too.
    for (const f of this.active) f.undo();
    this.active = [];
    this.world.heal();
    for (const node of this.world.nodes) {
      node.pausedUntil = 0;
      if (!node.up) this.world.restart(node, this.random.next() < 0.5);
    }
    this.world.log('HEAL: every link, every node back');
  }
}

/** The trace lines around a violation: faults, the key's partition, the key's operations. */
function traceAround(world: World, v: Pick<Violation, 'key' | 'operation'>): string[] {
  const p = partitionOf(v.key, partitions);
  const from = v.operation.call - 3_000;
  const to = (v.operation.ret === Infinity ? v.operation.call : v.operation.ret) + 500;
  const relevant = new RegExp(`( p${p} | ${v.key} |CRASH|RESTART|PAUSE|ISOLATE|CUT|HEAL|admitted)`);
  return world.trace.filter((line) => {
    const t = Number(line.slice(1, line.indexOf('s]'))) * 1000;
    return t >= from && t <= to && relevant.test(line);
  });
}

export async function runSeed(options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const { seed } = options;
  const bug = options.plantedBug ?? null;
  // Separate streams for the network, the nemesis and the clients, all from the one seed.
  const seeds = new SeededRandom(seed);
  const world = new World({
    seed: seeds.nextUint32(),
    nodes: nodeCount,
    partitions,
    replicationFactor,
    ...(bug !== null && { plantedBug: bug }),
  });
  const nemesis = new Nemesis(world, new SeededRandom(seeds.nextUint32()));
  const clients = new Clients(world, clientCount, keys, seeds.nextUint32());
  const problems: string[] = [];
  const step = async (): Promise<void> => {
    await world.step();
    clients.step(world.now);
  };
  let settleMs = 0;
  try {
    clients.active = false;
    await world.start();
    for (let i = 0; i < settleMsMax / stepMs && !world.settled().ok; i++) await step();
    clients.active = true;
    for (const node of world.nodes) world.drift(node);

    // Safety phase.
    const safetyEnd = world.now + (options.safetyMs ?? 20_000);
    while (world.now < safetyEnd) {
      nemesis.step();
      await step();
    }

    // Liveness phase.
    nemesis.healAll();
    const healedAt = world.now;
    while (!world.settled().ok && world.now - healedAt < settleMsMax) await step();
    settleMs = world.now - healedAt;
    if (!world.settled().ok) {
      problems.push(
        `the cluster did not settle within ${settleMsMax} ms of healing: ${world.settled().why}`,
      );
    } else {
      const stuck = new Set(world.settled().stuck);
      // Operations in flight at the heal may still be retrying; count from a deadline later.
      // Every served key gets a few operations. Clients work on served keys only: an operation
      // on a stuck key waits out its deadline, and with several partitions stuck the clients
      // spent so much of the window there that a served key was asked only twice in 15 s and
      // reported as not answering, though it answered every time (seeds 33 and 80; 312 before
      // the fixes of this branch).
      const since = world.now + operationDeadlineMs;
      const served = keys.filter((k) => !stuck.has(partitionOf(k, partitions)));
      clients.focus(served);
      const enough = (): boolean => {
        const outcomes = clients.outcomesSince(since);
        return served.every((k) => outcomes.filter((o) => o.key === k).length >= 3);
      };
      const end = since + livenessMsMax;
      while (world.now < end && (world.now < since || !enough())) await step();
      const outcomes = clients.outcomesSince(since);
      for (const key of served) {
        const mine = outcomes.filter((o) => o.key === key);
        const answered = mine.filter((o) => o.type !== 'info').length;
        if (mine.length < 3 || answered < mine.length) {
          problems.push(
            `after healing, ${key} answered ${answered} of ${mine.length} operations (liveness)`,
          );
        }
      }
    }
    clients.active = false;
    for (let i = 0; i < (operationDeadlineMs * 2) / stepMs && clients.inFlight > 0; i++) {
      await step();
    }
  } catch (error) {
    problems.push(`the run threw: ${(error as Error).stack ?? String(error)}`);
  }
  problems.push(...world.violations);

  const operations = pairOperations(clients.history);
  const registers = operations.filter((op) => keyKind(op.key) === 'register');
  const check = checkLinearizable(registers, registerModel);
  const patches = checkCommutative(operations);
  const ttlKeys = new Set(keys.filter((k) => keyKind(k) === 'ttl'));
  const expiry = checkExpiry(operations, ttlKeys, {
    ttlMs: ttlKeyTtlMs,
    // A node's clock is read once per step, and a client's time is the step's.
    clockSpreadMs: world.clockSpreadMs + 2 * stepMs,
  });
  const violations = [...check.violations, ...patches.violations, ...expiry.violations].map(
    (v) => `${v.description}\n  trace around it:\n    ${traceAround(world, v).join('\n    ')}`,
  );
  for (const key of check.unknownKeys) problems.push(`the checker ran out of budget on ${key}`);
  world.log(`END: ${operations.length} operations, ${violations.length} violations`);
  return {
    seed,
    plantedBug: bug,
    ok: violations.length === 0 && problems.length === 0,
    violations,
    problems,
    traceHash: world.traceHash,
    faults: nemesis.faults,
    clockJumps: world.clockJumps,
    clockJumpMsMax: world.clockJumpMsMax,
    clockSpreadMs: world.clockSpreadMs,
    expiredReads: expiry.expiredReads,
    expiredReadsJudged: expiry.earlyJudged,
    operations: operations.length,
    stats: clients.stats,
    stuckPartitions: world.settled().stuck.length,
    settleMs,
    virtualMs: world.now,
    wallMs: performance.now() - started,
    historyJsonLines: toJsonLines(clients.history),
    trace: world.trace,
  };
}
