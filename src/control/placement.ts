/**
 * Partition placement: which nodes hold the copies of each partition, and which copy is the
 * primary (DESIGN.md sections 1, 4 and 5).
 *
 * THE PROBLEM. A cluster has a fixed number of partitions P, each with RF copies: one primary
 * and RF-1 backups. Nodes join, drain and die. After each change the table must again give
 * every partition its copies on live nodes, spread over zones, with every node holding its
 * share of copies and of primaries, while moving as little data as possible, because every
 * moved copy is a state transfer that competes with the traffic the cluster is serving.
 *
 * THE RULES this module keeps (the control-plane leader calls `planMoves`, commits the changes
 * through Raft, and calls it again as state transfers finish):
 *
 * 1. Failover promotes only an in-sync replica. If the primary is dead and no in-sync copy
 *    survives, nothing is proposed for the partition: it stays without a primary and is
 *    reported `stuck`, for an operator to decide. Promoting a copy that is behind would
 *    silently drop acknowledged writes (an "unclean" election), and DESIGN.md section 4
 *    promises that no acknowledged sync write is lost to a single failure. The one change a
 *    stuck partition gets: a draining node's copy of it, stale and of no use, is dropped, so
 *    that the drain can finish.
 * 2. Make before break. A copy is removed from a live or draining node only when every copy
 *    the partition is meant to keep exists and is in sync, and never while it is the primary;
 *    so a partition never has fewer current copies than before a move started. A copy on a
 *    dead node is dropped at once: it holds nothing usable.
 * 3. The primary moves only to an in-sync copy (transferPrimary), so a hand-off never loses
 *    what the old primary acknowledged. A hand-off made only to balance primaries waits until
 *    no copy is in transfer, so it is not undone by the next one.
 * 4. At most `maxMovesInFlight` copies are being created at a time (proposed now, or proposed
 *    earlier and still catching up), so a rebalance cannot swamp the network; the most urgent
 *    go first (partitions with the fewest current copies), then copies leaving the most loaded
 *    nodes for the least loaded.
 * 5. Where copies should be is computed, not patched: a target placement that (a) gives each
 *    partition R = min(RF, live nodes) copies on distinct live nodes, (b) spreads them over
 *    zones, (c) gives each node its quota of copies, and (d) among all such placements keeps
 *    the most existing copies. (d) is a min-cost flow (min-cost-flow.ts): partitions send R
 *    units, nodes receive their quota, an edge costs 0 where the node already has the copy and
 *    1 where the copy would have to be made. The cheapest flow is the fewest copies moved that
 *    any balanced placement allows. Without zones that is exact: a join moves only the new
 *    node's share, a failure re-creates only the lost copies, and nothing else is touched.
 *    With zones it can take a few more (see the trade-offs).
 *
 * ZONES. A node without a zone is a zone of its own, so "no two copies in one zone" also
 * covers "no two copies on one node", and a cluster without zones is the same case. Let m be
 * the smallest number such that the zones can hold R copies with at most m in each
 * (sum over zones of min(nodes in zone, m) >= R). Every partition then has between
 * min(n, m-1) and min(n, m) copies in a zone of n nodes. With at least R zones m is 1: no two
 * copies of a partition share a zone. With fewer, the copies are spread as evenly as the zone
 * sizes allow (RF 3 over two zones: 2 + 1), so losing any one zone costs as few copies as
 * possible.
 *
 * BALANCE, and what is guaranteed. Quotas are water-filled: every live node gets the same
 * share of the P*R copies unless the zone rule forbids it. A zone is "pinned" when it is too
 * small for the copies the spread rule forces into it (every partition already has its
 * minimum there, so its nodes hold more) or too large for the copies allowed in it (every
 * partition already has its maximum there, so its nodes hold less). Then: any two live nodes
 * differ by at most one copy, except that nodes of a pinned zone may differ from the rest;
 * inside every zone nodes differ by at most one. Without zones, or with zones of equal size,
 * nothing is pinned and max - min <= 1 over all live nodes. Primaries are then balanced by a
 * second flow to within one per live node where the copies allow it (the tests find it so
 * without zones and with equal zones); where pinning makes it impossible (a set of nodes that
 * between them hold fewer partitions than nodes, say) the flow minimises the excess, so no
 * node leads more partitions than the copies force. Partitions that are stuck are frozen and
 * left out of both counts.
 *
 * WHY IT MOVES LITTLE, and why planning again is safe. Each call recomputes the target from
 * the current table, so nothing is remembered between calls and a leader change loses
 * nothing. The previous target is still a valid answer after its moves are applied, now
 * cheaper by the moves made, so the cheapest target never gets more expensive: repeated
 * planning converges, and the total number of copies created equals the minimum computed by
 * the first call. A copy still catching up costs nothing to keep, like one in sync, so
 * planning again never prefers a fresh copy over one already in transfer.
 *
 * WHAT IT TRADES OFF. A flow over P partitions by N nodes is heavier than `hash % N`: a
 * plan takes a few milliseconds at P = 256 over 20 nodes and about 2 s at the largest table
 * (P = 16384 over 64 nodes). It runs on the leader only after membership changes and batches
 * of state-transfer completions, never per request. With zones, balance within one copy can
 * cost a few moves beyond the lost copies after a failure (a lost partition can only be
 * re-created in a zone that lacks it); we pay them rather than leave a node over. Joining
 * nodes are placement targets at once (state transfer brings them up to date, and they serve
 * as primary only once in sync). Which copies move among equally cheap choices is decided by
 * node id order and, for a new cluster, by rendezvous hashing, which keeps pairs of nodes from
 * sharing all their partitions, so a failure's load spreads over every survivor.
 */
import { assert, unreachable } from '../core/assert.js';
import { hashUtf8 } from '../core/keys.js';
import { partitionCountMax } from '../core/limits.js';
import { FlowNetwork } from './min-cost-flow.js';

export type MemberState = 'active' | 'joining' | 'draining' | 'dead';

export interface Member {
  readonly id: string;
  /** Failure domain (rack, availability zone). A node without one is a zone of its own. */
  readonly zone?: string;
  /**
   * active and joining nodes receive copies; draining nodes are emptied; dead nodes hold
   * nothing usable. A node absent from the member list counts as dead.
   */
  readonly state: MemberState;
}

export interface PartitionAssignment {
  /** Bumped whenever the primary or the replica set changes; messages carry it. */
  readonly epoch: number;
  /**
   * null when the partition has no primary at all. A primary that died with no in-sync copy
   * left stays named here (the partition is reported stuck); it is not cleared.
   */
  readonly primary: string | null;
  /** Sorted by node id. */
  readonly backups: readonly string[];
  /** The replicas known to be current; contains the primary. Sorted by node id. */
  readonly inSync: readonly string[];
}

/** One assignment per partition, indexed by partition number. */
export type PartitionTable = readonly PartitionAssignment[];

export type PlacementChange =
  /** Failover: the primary is dead or missing; an in-sync backup takes over. */
  | { readonly kind: 'promote'; readonly partition: number; readonly newPrimary: string }
  /** A new copy, out of sync until state transfer catches it up. */
  | { readonly kind: 'addBackup'; readonly partition: number; readonly node: string }
  /** Drops a backup copy (from a dead or draining node, or an excess one). */
  | { readonly kind: 'removeReplica'; readonly partition: number; readonly node: string }
  /** Hands the primary role to an in-sync backup. */
  | { readonly kind: 'transferPrimary'; readonly partition: number; readonly to: string };

export interface PlacementPlan {
  /** Apply in order: a later change may rely on an earlier one (transfer, then remove). */
  readonly changes: readonly PlacementChange[];
  /** Partitions whose primary is gone with no in-sync copy left; ascending. */
  readonly stuck: readonly number[];
}

export interface PlacementOptions {
  /** Copies per partition, primary included. Default 2; at most replicationFactorMax. */
  readonly replicationFactor?: number;
  /**
   * Copies being created at once (new ones proposed plus ones still catching up). Default
   * movesInFlightMaxDefault(P). Lower spreads a rebalance over more time; higher finishes a
   * repair sooner at the cost of more state-transfer traffic competing with requests.
   */
  readonly maxMovesInFlight?: number;
}

/** One primary and one backup: survives any single failure at twice the memory. */
export const replicationFactorDefault = 2;

/**
 * A sync write waits for every in-sync copy, so each copy adds a chance of waiting for the
 * slowest node; five copies survive four failures, beyond any failure model we plan for.
 */
export const replicationFactorMax = 5;

/**
 * Each move copies one partition, about 1/P of the data. P/16 in flight keeps at most 1/16
 * of the data (about 6%) in transfer at once, yet a join to a 3-node cluster at P = 256
 * (about 128 copies) finishes in 8 rounds of transfers.
 */
export function movesInFlightMaxDefault(partitionCount: number): number {
  return Math.max(1, Math.ceil(partitionCount / 16));
}

// ---------------------------------------------------------------------------------------------
// Validation. Tables and members come from the Raft log, which only the leader writes after
// validating operator input, so a bad one here is a bug: the *Problem functions say what is
// wrong (for the leader's admission checks) and the planner asserts them.

/** Why `options` cannot be used with `partitionCount` partitions, or null. */
export function placementOptionsProblem(
  options: PlacementOptions,
  partitionCount: number,
): string | null {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) {
    return `partitionCount must be a positive integer, got ${partitionCount}`;
  }
  if (partitionCount > partitionCountMax) {
    return `partitionCount must be at most ${partitionCountMax}, got ${partitionCount}`;
  }
  const rf = options.replicationFactor;
  if (rf !== undefined && (!Number.isInteger(rf) || rf < 1 || rf > replicationFactorMax)) {
    return `replicationFactor must be an integer from 1 to ${replicationFactorMax}, got ${rf}`;
  }
  const moves = options.maxMovesInFlight;
  if (moves !== undefined && (!Number.isInteger(moves) || moves < 1)) {
    return `maxMovesInFlight must be a positive integer, got ${moves}`;
  }
  return null;
}

const memberStates: ReadonlySet<string> = new Set(['active', 'joining', 'draining', 'dead']);

/** Why `members` is not a member list, or null. */
export function membersProblem(members: readonly Member[]): string | null {
  const seen = new Set<string>();
  for (const m of members) {
    if (typeof m.id !== 'string' || m.id.length === 0) return 'a member id is empty';
    if (seen.has(m.id)) return `member ${m.id} is listed twice`;
    seen.add(m.id);
    if (!memberStates.has(m.state)) return `member ${m.id} has unknown state ${String(m.state)}`;
    if (m.zone !== undefined && (typeof m.zone !== 'string' || m.zone.length === 0)) {
      return `member ${m.id} has an empty zone: omit it or name the zone`;
    }
  }
  return null;
}

/** Why `table` is not a partition table, or null. */
export function tableProblem(table: PartitionTable): string | null {
  if (table.length < 1 || table.length > partitionCountMax) {
    return `a table has 1 to ${partitionCountMax} partitions, got ${table.length}`;
  }
  for (let p = 0; p < table.length; p++) {
    const a = table[p] as PartitionAssignment;
    if (!Number.isInteger(a.epoch) || a.epoch < 0) return `partition ${p}: epoch ${a.epoch}`;
    const replicas = replicasOf(a);
    if (new Set(replicas).size !== replicas.length) {
      return `partition ${p}: a node holds two copies`;
    }
    if (!isSortedUnique(a.backups)) return `partition ${p}: backups are not sorted`;
    if (!isSortedUnique(a.inSync)) return `partition ${p}: inSync is not sorted`;
    if (a.inSync.some((n) => !replicas.includes(n))) {
      return `partition ${p}: inSync names a node that holds no copy`;
    }
    if (a.primary !== null && !a.inSync.includes(a.primary)) {
      return `partition ${p}: the primary is not in sync`;
    }
  }
  return null;
}

function isSortedUnique(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) {
    if (!((ids[i - 1] as string) < (ids[i] as string))) return false;
  }
  return true;
}

function replicasOf(a: PartitionAssignment): string[] {
  return a.primary === null ? [...a.backups] : [a.primary, ...a.backups];
}

function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// The cluster as placement sees it.

interface Cluster {
  readonly member: ReadonlyMap<string, Member>;
  /** active and joining nodes, sorted by id. */
  readonly live: readonly Member[];
}

function clusterOf(members: readonly Member[]): Cluster {
  const problem = membersProblem(members);
  assert(problem === null, () => `invalid members: ${problem}`);
  const member = new Map(members.map((m) => [m.id, m] as const));
  const live = members
    .filter((m) => m.state === 'active' || m.state === 'joining')
    .sort((a, b) => byId(a.id, b.id));
  return { member, live };
}

function isDead(c: Cluster, id: string): boolean {
  const m = c.member.get(id);
  return m === undefined || m.state === 'dead';
}

function isLive(c: Cluster, id: string): boolean {
  const state = c.member.get(id)?.state;
  return state === 'active' || state === 'joining';
}

/** A node without a zone is a zone of its own; the prefixes keep the two namespaces apart. */
function zoneKey(m: Member): string {
  return m.zone === undefined ? `node:${m.id}` : `zone:${m.zone}`;
}

// ---------------------------------------------------------------------------------------------
// Copy targets: the min-cost flow described in the module comment.

/** What one zone may hold of one partition, and what its nodes must hold in total. */
interface ZonePlan {
  readonly key: string;
  readonly nodes: readonly Member[];
  /** Copies of each partition this zone must / may hold (the spread rule). */
  readonly low: number;
  readonly high: number;
  /** Every node of the zone holds at least `base` copies. */
  readonly base: number;
  /** Nodes of the zone that must hold base + 1. */
  readonly mandatoryExtra: number;
  /** Further nodes of the zone that may hold base + 1, drawn from the shared pool. */
  readonly optionalExtra: number;
}

interface QuotaPlan {
  readonly zones: readonly ZonePlan[];
  /** Extras shared among the zones that are not pinned. */
  readonly sharedExtra: number;
}

/**
 * The spread rule and the water-filled quotas for `partitions` partitions of `r` copies.
 * All arithmetic is on integers (cross-multiplied), so the result does not depend on
 * floating-point rounding.
 */
function quotaPlan(live: readonly Member[], partitions: number, r: number): QuotaPlan {
  const groups = new Map<string, Member[]>();
  for (const m of live) {
    const key = zoneKey(m);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [m]);
    else group.push(m);
  }
  const keys = [...groups.keys()].sort(byId);
  const sizes = keys.map((k) => (groups.get(k) as Member[]).length);
  // m: the fewest copies per zone that still lets the zones hold r copies.
  let m = 1;
  while (sizes.reduce((sum, n) => sum + Math.min(n, m), 0) < r) m++;
  const low = sizes.map((n) => Math.min(n, m - 1));
  const high = sizes.map((n) => Math.min(n, m));
  const lowTotal = low.map((l) => l * partitions);
  const highTotal = high.map((h) => h * partitions);
  const copies = partitions * r;

  // Water-filling: find the per-node level at which the zone totals, each clamped to what the
  // spread rule allows, add up to `copies`. Zones clamped at that level are pinned.
  const pinned = new Map<number, number>();
  for (;;) {
    const free = keys.map((_, i) => i).filter((i) => !pinned.has(i));
    if (free.length === 0) break;
    let rest = copies;
    for (const total of pinned.values()) rest -= total;
    const nodes = free.reduce((sum, i) => sum + (sizes[i] as number), 0);
    // Zone i at the level rest/nodes would hold sizes[i]*rest/nodes; compare scaled by nodes.
    let excess = 0;
    let deficit = 0;
    const over: number[] = [];
    const under: number[] = [];
    for (const i of free) {
      const want = (sizes[i] as number) * rest;
      const top = (highTotal[i] as number) * nodes;
      const bottom = (lowTotal[i] as number) * nodes;
      if (want > top) {
        over.push(i);
        excess += want - top;
      } else if (want < bottom) {
        under.push(i);
        deficit += bottom - want;
      }
    }
    if (over.length === 0 && under.length === 0) break;
    // If capping the over-full zones frees more than the starved ones need, the level rises
    // and the over-full stay over-full: pin them. Symmetrically for the starved ones.
    if (excess >= deficit) for (const i of over) pinned.set(i, highTotal[i] as number);
    if (deficit >= excess) for (const i of under) pinned.set(i, lowTotal[i] as number);
  }

  const free = keys.map((_, i) => i).filter((i) => !pinned.has(i));
  let rest = copies;
  for (const total of pinned.values()) rest -= total;
  const freeNodes = free.reduce((sum, i) => sum + (sizes[i] as number), 0);
  const level = freeNodes === 0 ? 0 : Math.floor(rest / freeNodes);
  const freeExtra = rest - level * freeNodes;
  assert(freeNodes > 0 || rest === 0, () => `quota: ${rest} copies and no free node`);

  let mandatoryFree = 0;
  let optionalFree = 0;
  const zones: ZonePlan[] = keys.map((key, i) => {
    const n = sizes[i] as number;
    const nodes = groups.get(key) as Member[];
    const fixed = pinned.get(i);
    if (fixed !== undefined) {
      const base = Math.floor(fixed / n);
      const plan = { key, nodes, low: low[i] as number, high: high[i] as number, base };
      return { ...plan, mandatoryExtra: fixed - base * n, optionalExtra: 0 };
    }
    // A free zone's total must stay inside its bounds even after rounding to whole copies.
    const mandatory = Math.max(0, (lowTotal[i] as number) - n * level);
    const allowed = Math.min(n, (highTotal[i] as number) - n * level);
    assert(mandatory <= allowed, () => `quota: zone ${key} needs ${mandatory} > ${allowed}`);
    mandatoryFree += mandatory;
    optionalFree += allowed - mandatory;
    const plan = { key, nodes, low: low[i] as number, high: high[i] as number, base: level };
    return { ...plan, mandatoryExtra: mandatory, optionalExtra: allowed - mandatory };
  });
  const sharedExtra = freeExtra - mandatoryFree;
  assert(
    sharedExtra >= 0 && sharedExtra <= optionalFree,
    () => `quota: ${freeExtra} extras do not fit (${mandatoryFree} + ${optionalFree})`,
  );
  return { zones, sharedExtra };
}

/** A copy a partition holds on a live node, in the order placement prefers to keep them. */
interface Holding {
  readonly node: string;
  /** 0 the primary, 1 an in-sync backup, 2 a copy still catching up. */
  readonly rank: 0 | 1 | 2;
}

/**
 * Where the copies of each partition in `partitions` should be: R live nodes each, obeying the
 * spread rule and the quotas, keeping as many `holdings` as possible. Returns sorted node ids.
 */
function copyTargets(
  partitions: readonly number[],
  holdings: ReadonlyMap<number, readonly Holding[]>,
  live: readonly Member[],
  r: number,
): Map<number, string[]> {
  const targets = new Map<number, string[]>();
  if (r === 0 || partitions.length === 0) return targets;
  const quotas = quotaPlan(live, partitions.length, r);

  // Vertices: 0 source, 1 sink, 2 shared extras, then partitions, zone extras, nodes, and one
  // vertex per (partition, zone) for zones that need one.
  const source = 0;
  const sink = 1;
  const shared = 2;
  const partitionVertex = (i: number): number => 3 + i;
  const zoneExtraVertex = (z: number): number => 3 + partitions.length + z;
  const nodeVertex = new Map<string, number>();
  let next = 3 + partitions.length + quotas.zones.length;
  for (const zone of quotas.zones) for (const m of zone.nodes) nodeVertex.set(m.id, next++);
  // A zone of one node that need not hold a copy maps straight to its node; others get a
  // per-partition vertex to cap (and floor) the copies the zone holds of that partition.
  const layered = quotas.zones.map((z) => z.nodes.length > 1 || z.low > 0);
  const layeredCount = layered.filter(Boolean).length;
  const zoneSlot = new Map<number, number>();
  quotas.zones.forEach((_, z) => {
    if (layered[z]) zoneSlot.set(z, zoneSlot.size);
  });
  const pairVertex = (i: number, z: number): number =>
    next + i * layeredCount + (zoneSlot.get(z) as number);
  const net = new FlowNetwork(next + partitions.length * layeredCount);

  // Node side: quotas.
  const baseEdge = new Map<string, number>();
  const toZoneExtra = new Map<string, number>();
  const zoneExtraToSink: number[] = [];
  const zoneExtraToShared: number[] = [];
  quotas.zones.forEach((zone, z) => {
    for (const m of zone.nodes) {
      const v = nodeVertex.get(m.id) as number;
      baseEdge.set(m.id, net.addEdge(v, sink, zone.base, 0));
      toZoneExtra.set(m.id, net.addEdge(v, zoneExtraVertex(z), 1, 0));
    }
    zoneExtraToSink.push(net.addEdge(zoneExtraVertex(z), sink, zone.mandatoryExtra, 0));
    zoneExtraToShared.push(net.addEdge(zoneExtraVertex(z), shared, zone.optionalExtra, 0));
  });
  const sharedToSink = net.addEdge(shared, sink, quotas.sharedExtra, 0);

  // Partition side: the spread rule. The `low` copies a zone must hold come straight from the
  // source, so saturating every source edge (flow = P*R) meets every minimum.
  // Edges are found again by number, not by a string key: the graph has P*N copy edges (200k at
  // P = 1024 over 200 nodes), and building a key per edge, twice, was most of a plan's time.
  const zoneCount = quotas.zones.length;
  const liveCount = live.length;
  const liveIndex = new Map<string, number>();
  live.forEach((m, j) => liveIndex.set(m.id, j));
  const lowSum = quotas.zones.reduce((sum, z) => sum + z.low, 0);
  const sourceEdge: number[] = [];
  // -1: no such edge.
  const mandatoryEdge = new Int32Array(partitions.length * zoneCount).fill(-1);
  const optionalEdge = new Int32Array(partitions.length * zoneCount).fill(-1);
  const copyEdge = new Int32Array(partitions.length * liveCount).fill(-1);
  partitions.forEach((p, i) => {
    sourceEdge.push(net.addEdge(source, partitionVertex(i), r - lowSum, 0));
    const held = new Set((holdings.get(p) ?? []).map((h) => h.node));
    quotas.zones.forEach((zone, z) => {
      let from = partitionVertex(i);
      if (layered[z]) {
        from = pairVertex(i, z);
        if (zone.low > 0) mandatoryEdge[i * zoneCount + z] = net.addEdge(source, from, zone.low, 0);
        const optional = zone.high - zone.low;
        if (optional > 0) {
          optionalEdge[i * zoneCount + z] = net.addEdge(partitionVertex(i), from, optional, 0);
        }
      }
      for (const m of zone.nodes) {
        const cost = held.has(m.id) ? 0 : 1;
        const edge = net.addEdge(from, nodeVertex.get(m.id) as number, 1, cost);
        copyEdge[i * liveCount + (liveIndex.get(m.id) as number)] = edge;
      }
    });
  });

  // Start from "every copy stays", as far as the rules allow. Only cost-0 edges are used, so
  // this flow is the cheapest for its value and the solver may continue from it.
  const zoneIndex = new Map<string, number>();
  quotas.zones.forEach((zone, z) => {
    for (const m of zone.nodes) zoneIndex.set(m.id, z);
  });
  const edgeOrUndefined = (edge: number | undefined): number | undefined =>
    edge === undefined || edge < 0 ? undefined : edge;
  const route = (i: number, node: string): void => {
    const z = zoneIndex.get(node);
    if (z === undefined) return;
    const copy = copyEdge[i * liveCount + (liveIndex.get(node) as number)] as number;
    let head: number[] | null = null;
    if (!layered[z]) {
      head = [sourceEdge[i] as number, copy];
    } else {
      const mandatory = edgeOrUndefined(mandatoryEdge[i * zoneCount + z]);
      const optional = edgeOrUndefined(optionalEdge[i * zoneCount + z]);
      if (mandatory !== undefined && net.residual(mandatory) > 0) head = [mandatory, copy];
      else if (optional !== undefined) head = [sourceEdge[i] as number, optional, copy];
    }
    const tail = [
      [baseEdge.get(node) as number],
      [toZoneExtra.get(node) as number, zoneExtraToSink[z] as number],
      [toZoneExtra.get(node) as number, zoneExtraToShared[z] as number, sharedToSink],
    ].find((path) => path.every((e) => net.residual(e) > 0));
    if (head === null || tail === undefined) return;
    const path = [...head, ...tail];
    if (path.every((e) => net.residual(e) > 0)) for (const e of path) net.push(e, 1);
  };
  // Primaries first, then in-sync copies, then copies catching up: the ones that stay when a
  // node has more than its quota are the ones that are dearest to lose.
  for (const rank of [0, 1, 2] as const) {
    partitions.forEach((p, i) => {
      for (const h of holdings.get(p) ?? []) if (h.rank === rank) route(i, h.node);
    });
  }
  net.solve(source, sink);

  partitions.forEach((p, i) => {
    const nodes: string[] = [];
    for (let j = 0; j < liveCount; j++) {
      if (net.flowOn(copyEdge[i * liveCount + j] as number) === 1)
        nodes.push((live[j] as Member).id);
    }
    assert(nodes.length === r, () => `partition ${p} placed on ${nodes.length} nodes, not ${r}`);
    targets.set(p, nodes);
  });
  return targets;
}

/**
 * Which target copy of each partition should be primary: within one primary per live node
 * when the placement allows it, changing as few primaries as possible, preferring copies that
 * are in sync (they can take over now).
 */
function primaryTargets(
  partitions: readonly number[],
  targets: ReadonlyMap<number, readonly string[]>,
  current: ReadonlyMap<number, string>,
  inSync: ReadonlyMap<number, ReadonlySet<string>>,
  live: readonly Member[],
): Map<number, string> {
  const chosen = new Map<number, string>();
  const placed = partitions.filter((p) => (targets.get(p) ?? []).length > 0);
  if (placed.length === 0) return chosen;
  const base = Math.floor(placed.length / live.length);
  const extra = placed.length - base * live.length;
  // A primary above quota must cost more than every primary change together (at most 2 per
  // partition), so balance comes first and fewest changes second.
  const overflowCost = 2 * placed.length + 1;

  const source = 0;
  const sink = 1;
  const shared = 2;
  const nodeVertex = new Map<string, number>();
  live.forEach((m, j) => nodeVertex.set(m.id, 3 + j));
  const partitionVertex = (i: number): number => 3 + live.length + i;
  const net = new FlowNetwork(3 + live.length + placed.length);
  const baseEdge = new Map<string, number>();
  const extraEdge = new Map<string, number>();
  for (const m of live) {
    const v = nodeVertex.get(m.id) as number;
    baseEdge.set(m.id, net.addEdge(v, sink, base, 0));
    extraEdge.set(m.id, net.addEdge(v, shared, 1, 0));
    net.addEdge(v, sink, placed.length, overflowCost);
  }
  const sharedEdge = net.addEdge(shared, sink, extra, 0);
  const edges = placed.map((p, i) => {
    const sourceEdge = net.addEdge(source, partitionVertex(i), 1, 0);
    const now = current.get(p);
    const synced = inSync.get(p);
    const byNode = new Map<string, number>();
    for (const n of targets.get(p) ?? []) {
      const cost = n === now ? 0 : synced?.has(n) === true ? 1 : 2;
      byNode.set(n, net.addEdge(partitionVertex(i), nodeVertex.get(n) as number, 1, cost));
    }
    return { sourceEdge, byNode };
  });
  // Start from "every primary stays", within quota (cost-0 edges only, see copyTargets).
  placed.forEach((p, i) => {
    const now = current.get(p);
    const { sourceEdge, byNode } = edges[i] as (typeof edges)[number];
    const edge = now === undefined ? undefined : byNode.get(now);
    if (now === undefined || edge === undefined) return;
    const tail = [[baseEdge.get(now) as number], [extraEdge.get(now) as number, sharedEdge]].find(
      (path) => path.every((e) => net.residual(e) > 0),
    );
    if (tail === undefined) return;
    for (const e of [sourceEdge, edge, ...tail]) net.push(e, 1);
  });
  net.solve(source, sink);
  placed.forEach((p, i) => {
    const { byNode } = edges[i] as (typeof edges)[number];
    const winner = [...byNode].find(([, e]) => net.flowOn(e) === 1);
    assert(winner !== undefined, () => `partition ${p} got no primary`);
    chosen.set(p, winner[0]);
  });
  return chosen;
}

// ---------------------------------------------------------------------------------------------
// The public functions.

/**
 * The table of a new cluster: every partition placed on R = min(RF, live nodes) live nodes,
 * balanced, with every copy in sync (there is no data yet). Candidates are ranked per
 * partition by rendezvous hashing before the flow evens them out, so the copies of one node's
 * partitions are scattered over all the others rather than mirrored on one buddy.
 */
export function initialTable(
  members: readonly Member[],
  partitionCount: number,
  replicationFactor: number = replicationFactorDefault,
): PartitionTable {
  const problem = placementOptionsProblem({ replicationFactor }, partitionCount);
  assert(problem === null, () => `initialTable: ${problem}`);
  const cluster = clusterOf(members);
  assert(cluster.live.length > 0, 'initialTable: a new cluster needs at least one live member');
  const r = Math.min(replicationFactor, cluster.live.length);
  const partitions = Array.from({ length: partitionCount }, (_, p) => p);
  const holdings = new Map<number, Holding[]>();
  for (const p of partitions) {
    const ranked = [...cluster.live]
      .map((m) => ({ id: m.id, score: hashUtf8(`${p}\u0000${m.id}`) }))
      .sort((a, b) => b.score - a.score || byId(a.id, b.id));
    holdings.set(
      p,
      ranked.slice(0, r).map((m, i) => ({ node: m.id, rank: i === 0 ? 0 : 1 })),
    );
  }
  const targets = copyTargets(partitions, holdings, cluster.live, r);
  const current = new Map<number, string>();
  const synced = new Map<number, ReadonlySet<string>>();
  for (const p of partitions) {
    const t = targets.get(p) as string[];
    synced.set(p, new Set(t));
    const first = holdings.get(p)?.[0]?.node;
    if (first !== undefined && t.includes(first)) current.set(p, first);
  }
  const primaries = primaryTargets(partitions, targets, current, synced, cluster.live);
  return partitions.map((p) => {
    const nodes = targets.get(p) as string[];
    const primary = primaries.get(p) as string;
    return {
      epoch: 1,
      primary,
      backups: nodes.filter((n) => n !== primary),
      inSync: [...nodes],
    };
  });
}

/**
 * The next changes toward a placement that obeys every rule in the module comment. Pure: the
 * same table, members and options give the same plan. Call again after the changes are
 * committed and as copies come into sync; an empty plan means converged (or stuck).
 */
export function planMoves(
  table: PartitionTable,
  members: readonly Member[],
  options: PlacementOptions = {},
): PlacementPlan {
  const optionsProblem = placementOptionsProblem(options, table.length);
  assert(optionsProblem === null, () => `planMoves: ${optionsProblem}`);
  const problem = tableProblem(table);
  assert(problem === null, () => `planMoves: invalid table: ${problem}`);
  const cluster = clusterOf(members);
  const rf = options.replicationFactor ?? replicationFactorDefault;
  const movesMax = options.maxMovesInFlight ?? movesInFlightMaxDefault(table.length);
  const r = Math.min(rf, cluster.live.length);

  const stuck: number[] = [];
  const dropsStale: PlacementChange[] = [];
  const active: number[] = [];
  const holdings = new Map<number, Holding[]>();
  const current = new Map<number, string>();
  const synced = new Map<number, Set<string>>();
  const load = new Map<string, number>();
  let inFlight = 0;
  table.forEach((a, p) => {
    const primaryUsable = a.primary !== null && !isDead(cluster, a.primary);
    const inSync = new Set(a.inSync.filter((n) => !isDead(cluster, n)));
    if (!primaryUsable && inSync.size === 0) {
      stuck.push(p);
      // Frozen, but a draining node is still emptied of it: its copy is stale (nothing in
      // sync survived), so no rule will ever promote it or copy from it, and kept, it would
      // hold the drain forever (data-plane sim seeds 37 and 97).
      for (const n of a.backups) {
        if (cluster.member.get(n)?.state === 'draining') {
          dropsStale.push({ kind: 'removeReplica', partition: p, node: n });
        }
      }
      return;
    }
    active.push(p);
    synced.set(p, inSync);
    if (primaryUsable && isLive(cluster, a.primary as string)) {
      current.set(p, a.primary as string);
    }
    const held: Holding[] = [];
    for (const n of replicasOf(a)) {
      if (isDead(cluster, n)) continue;
      load.set(n, (load.get(n) ?? 0) + 1);
      if (!inSync.has(n)) inFlight++;
      if (!isLive(cluster, n)) continue;
      held.push({ node: n, rank: n === a.primary ? 0 : inSync.has(n) ? 1 : 2 });
    }
    holdings.set(p, held);
  });

  const targets = copyTargets(active, holdings, cluster.live, r);
  const primaries = primaryTargets(active, targets, current, synced, cluster.live);

  const promotes: PlacementChange[] = [];
  const dropsDead: PlacementChange[] = [];
  const transfers: PlacementChange[] = [];
  const rebalances: PlacementChange[] = [];
  const removals: PlacementChange[] = [];
  const additions: {
    change: PlacementChange;
    copies: number;
    leavingLoad: number;
    arrivingLoad: number;
  }[] = [];
  for (const p of active) {
    const a = table[p] as PartitionAssignment;
    const inSync = synced.get(p) as Set<string>;
    const wanted = targets.get(p) ?? [];
    const target = primaries.get(p);
    let primary = a.primary;
    if (primary === null || isDead(cluster, primary)) {
      // Rule 1: only an in-sync copy may take over. Prefer the planned primary, then a live
      // node over a draining one, then a copy that stays.
      const candidates = [...inSync].sort(
        (x, y) =>
          Number(y === target) - Number(x === target) ||
          Number(isLive(cluster, y)) - Number(isLive(cluster, x)) ||
          Number(wanted.includes(y)) - Number(wanted.includes(x)) ||
          byId(x, y),
      );
      const chosen = candidates[0];
      assert(chosen !== undefined, () => `partition ${p} is not stuck but has no candidate`);
      promotes.push({ kind: 'promote', partition: p, newPrimary: chosen });
      primary = chosen;
    }
    for (const n of a.backups) {
      if (isDead(cluster, n)) dropsDead.push({ kind: 'removeReplica', partition: p, node: n });
    }
    const holders = replicasOf(a).filter((n) => !isDead(cluster, n));
    const leaving = holders.filter((n) => !wanted.includes(n));
    const leavingLoad = Math.max(-1, ...leaving.map((n) => load.get(n) ?? 0));
    const copies = holders.filter((n) => isLive(cluster, n) && inSync.has(n)).length;
    for (const n of wanted) {
      if (holders.includes(n)) continue;
      const arrivingLoad = load.get(n) ?? 0;
      const change: PlacementChange = { kind: 'addBackup', partition: p, node: n };
      additions.push({ change, copies, leavingLoad, arrivingLoad });
    }
    // Rule 3: the primary moves only to a live copy that is in sync. A primary that must go
    // (its node drains, or its copy is excess) goes as soon as it can; one moved only for
    // balance waits until no copy is in transfer anywhere, because until then the targets
    // still shift and an early hand-off might be undone by a later one.
    if (target !== undefined && target !== primary && inSync.has(target)) {
      const change: PlacementChange = { kind: 'transferPrimary', partition: p, to: target };
      if (primary !== null && wanted.includes(primary)) rebalances.push(change);
      else transfers.push(change);
      if (primary === null || !wanted.includes(primary)) primary = target;
    }
    // Rule 2: break only after make, never the primary.
    const complete = r > 0 && wanted.every((n) => holders.includes(n) && inSync.has(n));
    if (complete) {
      for (const n of leaving) {
        if (n !== primary) removals.push({ kind: 'removeReplica', partition: p, node: n });
      }
    }
  }
  // Rule 4: the fewest current copies first, then from the most loaded to the least loaded.
  additions.sort(
    (x, y) =>
      x.copies - y.copies ||
      y.leavingLoad - x.leavingLoad ||
      x.arrivingLoad - y.arrivingLoad ||
      x.change.partition - y.change.partition ||
      byId(nodeOf(x.change), nodeOf(y.change)),
  );
  const budget = Math.max(0, movesMax - inFlight);
  const adds = additions.slice(0, budget).map((x) => x.change);
  const settled = additions.length === 0 && inFlight === 0;
  if (settled) transfers.push(...rebalances);
  transfers.sort((x, y) => x.partition - y.partition);
  return {
    changes: [...promotes, ...dropsDead, ...dropsStale, ...adds, ...transfers, ...removals],
    stuck,
  };
}

function nodeOf(change: PlacementChange): string {
  switch (change.kind) {
    case 'promote':
      return change.newPrimary;
    case 'transferPrimary':
      return change.to;
    case 'addBackup':
    case 'removeReplica':
      return change.node;
    default:
      return unreachable(change, 'placement change');
  }
}

/**
 * The table after one change. Pure; the partition's epoch goes up by one, since every change
 * alters its primary or its replica set. A change that does not fit the table is a bug in
 * the caller (plans are applied in order, against the table they were made from).
 */
export function applyMove(table: PartitionTable, change: PlacementChange): PartitionTable {
  const a = table[change.partition];
  assert(a !== undefined, () => `applyMove: no partition ${change.partition}`);
  const next = [...table];
  next[change.partition] = applyToAssignment(a, change);
  return next;
}

function applyToAssignment(a: PartitionAssignment, change: PlacementChange): PartitionAssignment {
  const p = change.partition;
  const epoch = a.epoch + 1;
  switch (change.kind) {
    case 'promote': {
      const n = change.newPrimary;
      assert(a.backups.includes(n), () => `promote: ${n} holds no backup of partition ${p}`);
      assert(a.inSync.includes(n), () => `promote: ${n} is not in sync for partition ${p}`);
      // The old primary is dead: its copy leaves with its role.
      return {
        epoch,
        primary: n,
        backups: a.backups.filter((b) => b !== n),
        inSync: a.inSync.filter((s) => s !== a.primary),
      };
    }
    case 'addBackup': {
      const n = change.node;
      assert(!replicasOf(a).includes(n), () => `addBackup: ${n} already holds partition ${p}`);
      return { ...a, epoch, backups: [...a.backups, n].sort(byId) };
    }
    case 'removeReplica': {
      const n = change.node;
      assert(n !== a.primary, () => `removeReplica: ${n} is the primary of partition ${p}`);
      assert(a.backups.includes(n), () => `removeReplica: ${n} holds no copy of partition ${p}`);
      return {
        epoch,
        primary: a.primary,
        backups: a.backups.filter((b) => b !== n),
        inSync: a.inSync.filter((s) => s !== n),
      };
    }
    case 'transferPrimary': {
      const n = change.to;
      assert(a.primary !== null, () => `transferPrimary: partition ${p} has no primary`);
      assert(a.backups.includes(n), () => `transferPrimary: ${n} holds no backup of ${p}`);
      assert(a.inSync.includes(n), () => `transferPrimary: ${n} is not in sync for ${p}`);
      return {
        epoch,
        primary: n,
        backups: [...a.backups.filter((b) => b !== n), a.primary].sort(byId),
        inSync: a.inSync,
      };
    }
    default:
      return unreachable(change, 'placement change');
  }
}

export interface ConvergeResult {
  readonly table: PartitionTable;
  /** addBackup changes applied: copies created by state transfer. */
  readonly copiesMoved: number;
  /** promote and transferPrimary changes applied. */
  readonly primaryChanges: number;
  /** Plans applied before the plan came back empty. */
  readonly rounds: number;
  /** Partitions left without a primary, as the last plan reported them. */
  readonly stuck: readonly number[];
}

/**
 * A simulation of the control loop for tests, tools and the status command's "what would
 * happen": plan, apply, repeat until the plan is empty. State transfer is taken to finish
 * between rounds: before each plan, every copy of a partition with a live primary counts as
 * in sync. Membership does not change during the run.
 */
export function converge(
  table: PartitionTable,
  members: readonly Member[],
  options: PlacementOptions = {},
): ConvergeResult {
  const rf = options.replicationFactor ?? replicationFactorDefault;
  const movesMax = options.maxMovesInFlight ?? movesInFlightMaxDefault(table.length);
  // Every round that adds copies adds min(budget, still missing) of them, and at most P*RF can
  // be missing; after the last addition, one round for transfers and removals and one empty.
  const roundsMax = Math.ceil((table.length * rf) / movesMax) + 3;
  const cluster = clusterOf(members);
  let now = table;
  let copiesMoved = 0;
  let primaryChanges = 0;
  for (let rounds = 0; ; rounds++) {
    now = now.map((a) => {
      if (a.primary === null || isDead(cluster, a.primary)) return a;
      const caughtUp = replicasOf(a).filter((n) => !isDead(cluster, n) || a.inSync.includes(n));
      return { ...a, inSync: caughtUp.sort(byId) };
    });
    const plan = planMoves(now, members, options);
    if (plan.changes.length === 0) {
      return { table: now, copiesMoved, primaryChanges, rounds, stuck: plan.stuck };
    }
    assert(
      rounds < roundsMax,
      () => `converge: still changing after ${roundsMax} rounds; the plan is not making progress`,
    );
    for (const change of plan.changes) {
      now = applyMove(now, change);
      if (change.kind === 'addBackup') copiesMoved++;
      if (change.kind === 'promote' || change.kind === 'transferPrimary') primaryChanges++;
    }
  }
}

export interface NodeSummary {
  readonly node: string;
  readonly primaries: number;
  readonly copies: number;
  /** Copies not yet in sync (state transfer under way). */
  readonly catchingUp: number;
}

/**
 * Per node: primaries, copies and copies catching up, sorted by node id. Nodes in `members`
 * that hold nothing are listed with zeros, so a node that just joined shows up.
 */
export function summarize(table: PartitionTable, members: readonly Member[] = []): NodeSummary[] {
  const rows = new Map<
    string,
    { node: string; primaries: number; copies: number; catchingUp: number }
  >();
  const row = (node: string): { primaries: number; copies: number; catchingUp: number } => {
    let r = rows.get(node);
    if (r === undefined) {
      r = { node, primaries: 0, copies: 0, catchingUp: 0 };
      rows.set(node, r);
    }
    return r;
  };
  for (const m of members) row(m.id);
  for (const a of table) {
    if (a.primary !== null) row(a.primary).primaries++;
    for (const n of replicasOf(a)) {
      const r = row(n);
      r.copies++;
      if (!a.inSync.includes(n)) r.catchingUp++;
    }
  }
  return [...rows.values()].sort((x, y) => byId(x.node, y.node));
}
