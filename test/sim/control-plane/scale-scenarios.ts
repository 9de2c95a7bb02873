/**
 * The scale scenarios, shared by hundred-nodes.test.ts (small, in `npm test`) and
 * scripts/sim-scale.ts (100 and 200 nodes, longer, several seeds): build a large cluster,
 * run it under message loss and delay, fail one node, fail the Raft leader, add one node, and
 * measure what each costs: false failure detections, elections, copies moved against the
 * least any placement could move, and the control plane's messages per node.
 *
 * Settings are start-node.ts's defaults (tick 50 ms, election timeout 10 ticks, failure
 * timeout 600 ms, 3 voters), so the figures are the ones a real cluster of that size would
 * see, message for message; only the data plane is left out (see cluster-sim.ts).
 */
import { ClusterSim, copiesCreated, copiesPerNode, type NodeTraffic } from './cluster-sim.js';
import type { PartitionTable } from '../../../src/control/index.js';

export interface ScaleOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly partitions: number;
  readonly replicationFactor?: number;
  readonly measureBytes?: boolean;
}

export const tickMs = 50;
export const failureTimeoutMs = 600;

/**
 * Founds a cluster and grows it to `nodes`: two joins one at a time (the voters), then the
 * rest in batches of 50 at once, as an orchestrator scaling out would; returns once placement
 * has nothing left to move.
 */
export async function buildCluster(options: ScaleOptions): Promise<ClusterSim> {
  const sim = new ClusterSim({
    seed: options.seed,
    partitions: options.partitions,
    replicationFactor: options.replicationFactor ?? 2,
    tickMs,
    failureTimeoutMs,
    ...(options.measureBytes !== undefined && { measureBytes: options.measureBytes }),
  });
  sim.bootstrap('n1');
  sim.run(5);
  for (const name of ['n2', 'n3']) await sim.join(name);
  const names = Array.from({ length: options.nodes - 3 }, (_, i) => `n${i + 4}`);
  for (let i = 0; i < names.length; i += 50) await sim.joinAll(names.slice(i, i + 50));
  sim.runUntilSettled(20_000);
  return sim;
}

/** Per second, over a measured window. */
export interface Rate {
  readonly sent: number;
  readonly received: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export interface TrafficReport {
  readonly leader: Rate;
  /** The median and the busiest of the other running nodes, by messages sent + received. */
  readonly followerMedian: Rate;
  readonly followerMax: Rate;
}

function rate(t: NodeTraffic, seconds: number): Rate {
  return {
    sent: t.sent / seconds,
    received: t.received / seconds,
    bytesSent: t.bytesSent / seconds,
    bytesReceived: t.bytesReceived / seconds,
  };
}

/** The traffic since `resetTraffic`, over `seconds` of virtual time. */
export function trafficReport(sim: ClusterSim, seconds: number): TrafficReport {
  const leader = sim.leader();
  if (leader === undefined) throw new Error('no leader to report on');
  const others = [...sim.nodes.values()]
    .filter((n) => n.up && n.id !== leader.id)
    .map((n) => n.traffic)
    .sort((a, b) => a.sent + a.received - (b.sent + b.received));
  const median = others[Math.floor(others.length / 2)];
  const max = others[others.length - 1];
  if (median === undefined || max === undefined) throw new Error('no follower to report on');
  return {
    leader: rate(leader.traffic, seconds),
    followerMedian: rate(median, seconds),
    followerMax: rate(max, seconds),
  };
}

export interface SteadyResult {
  readonly virtualSeconds: number;
  readonly wallMs: number;
  readonly falseDetections: number;
  readonly elections: number;
  readonly traffic: TrafficReport;
}

/** Runs `virtualSeconds` with every message lost with `lossRate` and delayed up to `delayMsMax`. */
export function runUnderLoss(
  sim: ClusterSim,
  virtualSeconds: number,
  lossRate: number,
  delayMsMax: number,
): SteadyResult {
  const falseBefore = sim.falseDetections().length;
  const electionsBefore = sim.elections;
  sim.resetTraffic();
  sim.lossRate = lossRate;
  sim.delayMsMax = delayMsMax;
  const started = performance.now();
  sim.run((virtualSeconds * 1000) / tickMs);
  const wallMs = performance.now() - started;
  const traffic = trafficReport(sim, virtualSeconds);
  sim.heal();
  return {
    virtualSeconds,
    wallMs,
    falseDetections: sim.falseDetections().length - falseBefore,
    elections: sim.elections - electionsBefore,
    traffic,
  };
}

export interface FailureResult {
  readonly victim: string;
  /** Copies the dead node held: the least a failure can cost (each must be made again). */
  readonly lost: number;
  /** Copies created on the survivors until placement settled. */
  readonly created: number;
  /** Copies that left a surviving node: none, if only the lost copies moved. */
  readonly movedOffSurvivors: number;
  /** From the crash to the death's commit, in virtual ms. */
  readonly detectedAfterMs: number;
  readonly falseDetections: number;
  readonly elections: number;
  /** New leaders among the survivors, for a leader failure: one. */
  readonly leadersAfter: number;
}

function copiesLeaving(before: PartitionTable, after: PartitionTable, except: string): number {
  let left = 0;
  before.forEach((a, p) => {
    const now = after[p];
    const kept = new Set(now === undefined ? [] : [now.primary, ...now.backups]);
    for (const n of [a.primary, ...a.backups])
      if (n !== null && n !== except && !kept.has(n)) left++;
  });
  return left;
}

/**
 * Crashes one node (the Raft leader when `leader`, else a follower holding copies), waits for
 * placement to settle, and counts what moved.
 */
export function failOne(sim: ClusterSim, which: 'leader' | 'follower'): FailureResult {
  const leader = sim.leader();
  if (leader === undefined) throw new Error('no leader');
  const before = leader.plane.state.table;
  const holding = copiesPerNode(before);
  const victim =
    which === 'leader'
      ? leader
      : [...sim.nodes.values()].find((n) => n.up && n.id !== leader.id && holding.has(n.id));
  if (victim === undefined) throw new Error('no victim');
  const falseBefore = sim.falseDetections().length;
  const electionsBefore = sim.elections;
  const crashedAt = sim.now;
  sim.crash(victim.id);
  // Until its death is committed the cluster rightly counts it alive, and placement, with
  // nothing to do, looks settled; so wait for the death first. A leader's death waits for an
  // election too (500 to 1000 ms) before the failure timeout can run out.
  const deathsMax = (4 * failureTimeoutMs) / tickMs;
  for (let i = 0; i < deathsMax && !sim.deaths.some((d) => d.id === victim.id); i++) sim.step();
  sim.runUntilSettled(5_000);
  const after = sim.leader()!.plane.state.table;
  const death = sim.deaths.find((d) => d.id === victim.id && d.at >= crashedAt);
  return {
    victim: victim.id,
    lost: holding.get(victim.id) ?? 0,
    created: copiesCreated(before, after),
    movedOffSurvivors: copiesLeaving(before, after, victim.id),
    detectedAfterMs: death === undefined ? NaN : death.at - crashedAt,
    falseDetections: sim.falseDetections().length - falseBefore,
    elections: sim.elections - electionsBefore,
    leadersAfter: new Set(sim.leaders().map((n) => n.id)).size,
  };
}

export interface JoinResult {
  readonly created: number;
  /** P*RF/(N+1): the new node's share, the least any balancing placement can move. */
  readonly share: number;
  readonly movedBetweenOldNodes: number;
  readonly falseDetections: number;
}

/** One more node joins; counts the copies it costs once placement settles. */
export async function joinOne(sim: ClusterSim, name: string): Promise<JoinResult> {
  const before = sim.leader()!.plane.state.table;
  const live = [...sim.nodes.values()].filter((n) => n.up).length;
  const falseBefore = sim.falseDetections().length;
  const node = await sim.join(name);
  sim.runUntilSettled(5_000);
  const after = sim.leader()!.plane.state.table;
  const created = copiesCreated(before, after);
  const onNew = copiesPerNode(after).get(node.id) ?? 0;
  const rf = sim.options.replicationFactor;
  return {
    created,
    share: (sim.options.partitions * rf) / (live + 1),
    movedBetweenOldNodes: created - onNew,
    falseDetections: sim.falseDetections().length - falseBefore,
  };
}
