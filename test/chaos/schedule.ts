/**
 * The chaos run's fault schedule and the pure judgements over its history: what `npm run
 * chaos` (scripts/chaos.ts) does and checks, separated from the processes so it can be tested.
 *
 * One seed decides the schedule: the order of the fault kinds (every kind once per round, in a
 * seeded order), how long each fault is held, whether partitions hold or drop bytes, and which
 * nodes each fault picks from those that fit when it comes (the leader, a node with primaries).
 * What the seed cannot fix is timing: which node leads, or how far the load got, depends on the
 * machine; so a replay repeats the same faults in the same order, not the same interleaving.
 */
import { SeededRandom, type Random } from '../../src/core/random.js';
import type { Operation } from '../sim/checker/index.js';

export const faultKinds = [
  /** SIGKILL of a node with primaries that does not lead Raft; restarted on its data dir. */
  'kill',
  /** SIGKILL of the Raft leader; restarted on its data dir. */
  'kill-leader',
  /** SIGSTOP of a node with primaries past the failure timeout, then SIGCONT. */
  'pause',
  /** Symmetric: a minority without the leader cut from the majority. */
  'partition-minority',
  /** Symmetric: the leader and the rest of a minority cut from the majority. */
  'partition-leader-in-minority',
  /** Symmetric: the leader alone cut from every other node (clients still reach it). */
  'isolate-leader',
  /** One node's bytes to every other node stop, or every other node's bytes to it. */
  'one-way',
  /** Two halves cut from each other, and one node that still reaches both. */
  'bridge',
  /** Clients cut from one node with primaries; the nodes still reach each other. */
  'client-cut',
  /** A new node joins under load. */
  'join',
  /** A node is drained (`statehouse drain` or SIGTERM) and leaves. */
  'drain',
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface PlannedFault {
  index: number;
  kind: FaultKind;
  /** How long the fault lasts before it is healed, in ms. */
  holdMs: number;
  /** For partitions: hold the bytes (a blackhole) or drop them (connections reset). */
  mode: 'hold' | 'drop';
  /** For a drain: by the command or by SIGTERM. */
  drainBy: 'command' | 'sigterm';
  /** For one-way: the chosen node cannot send (`out`) or cannot receive (`in`). */
  direction: 'out' | 'in';
}

/**
 * `count` faults from `seed`. Holds are drawn between `holdMsMin` and `holdMsMax`: past the
 * 600 ms failure timeout many times over, so each fault fails roles over, and short enough
 * that a five-minute run cycles through every kind.
 */
export function planFaults(
  seed: number,
  count: number,
  holdMsMin = 6_000,
  holdMsMax = 12_000,
): PlannedFault[] {
  const random = new SeededRandom(seed);
  const plan: PlannedFault[] = [];
  let round: FaultKind[] = [];
  for (let i = 0; i < count; i++) {
    if (round.length === 0) round = shuffle([...faultKinds], random);
    const kind = round.shift()!;
    plan.push({
      index: i + 1,
      kind,
      holdMs: holdMsMin + random.int(holdMsMax - holdMsMin + 1),
      mode: random.next() < 0.5 ? 'hold' : 'drop',
      drainBy: random.next() < 0.5 ? 'command' : 'sigterm',
      direction: random.next() < 0.5 ? 'out' : 'in',
    });
  }
  return plan;
}

export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Bytes from every node of `from` to every node of `to` stop; both ways unless `oneWay`. */
export interface Cut {
  from: string[];
  to: string[];
  oneWay: boolean;
}

/**
 * The cuts of a network fault over the live nodes `live` (names), with `leader` the Raft
 * leader's name when known, and a short description for the report. `target` is the node a
 * one-way or client cut is about (chosen by the caller: it needs the table).
 */
export function cutsFor(
  fault: PlannedFault,
  live: readonly string[],
  leader: string | null,
  target: string,
  random: Random,
): { cuts: Cut[]; describe: string } {
  const others = (group: readonly string[]) => live.filter((n) => !group.includes(n));
  const minoritySize = Math.floor((live.length - 1) / 2);
  const group = (size: number, first: string | null): string[] => {
    const pool = shuffle(
      live.filter((n) => n !== first),
      random,
    );
    return [...(first === null ? [] : [first]), ...pool].slice(0, size);
  };
  const show = (g: readonly string[]) => `{${g.join(',')}}`;
  switch (fault.kind) {
    case 'partition-minority': {
      const withoutLeader = live.filter((n) => n !== leader);
      const minority = shuffle([...withoutLeader], random).slice(0, Math.max(1, minoritySize));
      return {
        cuts: [{ from: minority, to: others(minority), oneWay: false }],
        describe: `${show(minority)} | ${show(others(minority))}`,
      };
    }
    case 'partition-leader-in-minority': {
      const minority = group(Math.max(1, minoritySize), leader);
      return {
        cuts: [{ from: minority, to: others(minority), oneWay: false }],
        describe: `${show(minority)} | ${show(others(minority))}`,
      };
    }
    case 'isolate-leader': {
      const alone = [leader ?? target];
      return {
        cuts: [{ from: alone, to: others(alone), oneWay: false }],
        describe: `${show(alone)} | ${show(others(alone))}`,
      };
    }
    case 'one-way': {
      const rest = others([target]);
      return fault.direction === 'out'
        ? {
            cuts: [{ from: [target], to: rest, oneWay: true }],
            describe: `${target} -/-> ${show(rest)} (it still receives)`,
          }
        : {
            cuts: [{ from: rest, to: [target], oneWay: true }],
            describe: `${show(rest)} -/-> ${target} (it still sends)`,
          };
    }
    case 'bridge': {
      const bridge = shuffle([...live], random)[0]!;
      const rest = shuffle(
        live.filter((n) => n !== bridge),
        random,
      );
      const half = rest.slice(0, Math.floor(rest.length / 2));
      const other = rest.slice(half.length);
      return {
        cuts: [{ from: half, to: other, oneWay: false }],
        describe: `${show(half)} | ${show(other)}, bridge ${bridge} reaches both`,
      };
    }
    case 'client-cut':
      return {
        cuts: [{ from: ['client'], to: [target], oneWay: false }],
        describe: `clients | ${target}`,
      };
    default:
      throw new Error(`cutsFor: ${fault.kind} is not a network fault`);
  }
}

/**
 * Reads that returned a value older than a write acknowledged before the read was invoked.
 * The chaos load's values are numbers that grow per key (one writer per key), so "older" is
 * "smaller", and an absent key (null) is older than any write. Every stale read is also a
 * linearizability violation; counting them apart says how many, not just whether.
 */
export function staleReads(operations: readonly Operation[]): Operation[] {
  const acked = new Map<string, { value: number; ret: number }[]>();
  for (const op of operations) {
    if (op.f !== 'write' || op.status !== 'ok' || typeof op.input !== 'number') continue;
    const list = acked.get(op.key) ?? [];
    list.push({ value: op.input, ret: op.ret });
    acked.set(op.key, list);
  }
  const stale: Operation[] = [];
  for (const op of operations) {
    if (op.f !== 'read' || op.status !== 'ok') continue;
    let newest = -Infinity;
    for (const w of acked.get(op.key) ?? [])
      if (w.ret < op.call) newest = Math.max(newest, w.value);
    const got = typeof op.output === 'number' ? op.output : -Infinity;
    if (got < newest) stale.push(op);
  }
  return stale;
}
