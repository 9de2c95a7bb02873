/**
 * Generators and checkers shared by the placement tests. The checkers restate the rules from
 * their definitions (DESIGN.md section 5 and the placement module comment) without calling
 * the code under test, so a test that passes means the rule holds, not that the code agrees
 * with itself.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ClusterState,
  applyMove,
  planMoves,
  type MemberRecord,
  type Member,
  type PartitionAssignment,
  type PartitionTable,
  type PlacementOptions,
  type PlacementPlan,
} from '../../src/control/index.js';

export const partitionCounts = [16, 64, 256] as const;

/**
 * A cluster state founded by the first of `members` with `partitionCount` partitions (all on
 * the founder, RF 2), the others joined after.
 */
/** An active member; an id with an incarnation (`b~1`) has the name before the `~`. */
export function activeMember(id: string): MemberRecord {
  const name = id.split('~')[0]!;
  return { id, name, address: `${name}:1`, state: 'active' };
}

export function foundedCluster(
  members: readonly MemberRecord[],
  partitionCount: number,
): ClusterState {
  const state = new ClusterState();
  const [founder, ...others] = members;
  state.apply({
    type: 'bootstrap',
    clusterId: 'c1',
    settings: { partitionCount, replicationFactor: 2 },
    member: founder!,
  });
  for (const member of others) state.apply({ type: 'join', member });
  return state;
}

export function nodeId(i: number): string {
  return `n${String(i).padStart(2, '0')}`;
}

export function replicas(a: PartitionAssignment): string[] {
  return a.primary === null ? [...a.backups] : [a.primary, ...a.backups];
}

export function isLive(m: Member | undefined): boolean {
  return m !== undefined && (m.state === 'active' || m.state === 'joining');
}

export function liveMembers(members: readonly Member[]): Member[] {
  return members.filter((m) => isLive(m));
}

/** A node without a zone is a zone of its own. */
export function zoneOf(m: Member): string {
  return m.zone === undefined ? `node:${m.id}` : `zone:${m.zone}`;
}

export interface Cluster {
  readonly members: Member[];
  readonly partitionCount: number;
  readonly replicationFactor: number;
  /** Zone names handed out to joining nodes ([] when the cluster has no zones). */
  readonly zones: string[];
}

/** N from 1 to 20 active nodes (up to 20 in equal zones), RF 1 to 3, P in {16, 64, 256}, no zones or 1 to 4 zones. */
export function clusterArb(
  options: { nodesMin?: number; nodesMax?: number; zones?: 'any' | 'none' | 'equal' } = {},
): fc.Arbitrary<Cluster> {
  const nodesMin = options.nodesMin ?? 1;
  const nodesMax = options.nodesMax ?? 20;
  const zoneMode = options.zones ?? 'any';
  const zoneCount =
    zoneMode === 'none'
      ? fc.constant(0)
      : zoneMode === 'equal'
        ? fc.integer({ min: 1, max: 4 })
        : fc.integer({ min: 0, max: 4 });
  return fc
    .record({
      nodes: fc.integer({ min: nodesMin, max: nodesMax }),
      replicationFactor: fc.integer({ min: 1, max: 3 }),
      partitionCount: fc.constantFrom(...partitionCounts),
      zoneCount,
      zoneSeed: fc.array(fc.nat(), { minLength: nodesMax, maxLength: nodesMax }),
    })
    .map(({ nodes: drawn, replicationFactor, partitionCount, zoneCount: k, zoneSeed }) => {
      const zones = Array.from({ length: k }, (_, z) => `z${z}`);
      // Equal zones: round the node count down to a multiple of the zone count.
      const nodes = zoneMode === 'equal' ? Math.max(1, Math.floor(drawn / k)) * k : drawn;
      const members: Member[] = Array.from({ length: nodes }, (_, i) => {
        const zone =
          k === 0 ? undefined : zoneMode === 'equal' ? zones[i % k] : zones[(zoneSeed[i] ?? 0) % k];
        return zone === undefined
          ? { id: nodeId(i), state: 'active' as const }
          : { id: nodeId(i), zone, state: 'active' as const };
      });
      return { members, partitionCount, replicationFactor, zones };
    });
}

export function optionsOf(c: Cluster): PlacementOptions {
  return { replicationFactor: c.replicationFactor };
}

/** Copies of `table` on each node, counting only `partitions` (all when omitted). */
export function copiesByNode(
  table: PartitionTable,
  partitions?: readonly number[],
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of partitions ?? table.map((_, i) => i)) {
    for (const n of replicas(table[p] as PartitionAssignment))
      counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  return counts;
}

export function primariesByNode(
  table: PartitionTable,
  partitions?: readonly number[],
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of partitions ?? table.map((_, i) => i)) {
    const primary = (table[p] as PartitionAssignment).primary;
    if (primary !== null) counts.set(primary, (counts.get(primary) ?? 0) + 1);
  }
  return counts;
}

/** max - min of `counts` over `nodes` (a node missing from counts holds 0). */
export function spread(counts: ReadonlyMap<string, number>, nodes: readonly Member[]): number {
  const values = nodes.map((m) => counts.get(m.id) ?? 0);
  return values.length === 0 ? 0 : Math.max(...values) - Math.min(...values);
}

/**
 * The spread rule, from its definition: m is the fewest copies per zone that lets the zones
 * hold R copies; a zone of n live nodes holds between min(n, m-1) and min(n, m) copies of
 * every partition.
 */
export function spreadBounds(
  live: readonly Member[],
  r: number,
): Map<string, { low: number; high: number }> {
  const sizes = new Map<string, number>();
  for (const m of live) sizes.set(zoneOf(m), (sizes.get(zoneOf(m)) ?? 0) + 1);
  let m = 1;
  while ([...sizes.values()].reduce((sum, n) => sum + Math.min(n, m), 0) < r) m++;
  const bounds = new Map<string, { low: number; high: number }>();
  for (const [zone, n] of sizes)
    bounds.set(zone, { low: Math.min(n, m - 1), high: Math.min(n, m) });
  return bounds;
}

/** Structural rules every table must keep at every step. */
export function assertWellFormed(table: PartitionTable): void {
  table.forEach((a, p) => {
    const rs = replicas(a);
    assert.equal(new Set(rs).size, rs.length, `partition ${p}: two copies on one node`);
    for (const n of a.inSync) assert.ok(rs.includes(n), `partition ${p}: ${n} in sync but no copy`);
    if (a.primary !== null)
      assert.ok(a.inSync.includes(a.primary), `partition ${p}: primary not in sync`);
  });
}

/**
 * What a converged table on a stable membership must look like: every partition outside
 * `stuck` has R = min(RF, live) copies, all on live nodes and in sync, a primary, and obeys
 * the spread rule.
 */
export function assertConverged(
  table: PartitionTable,
  members: readonly Member[],
  replicationFactor: number,
  stuck: readonly number[] = [],
): void {
  assertWellFormed(table);
  const byId = new Map(members.map((m) => [m.id, m] as const));
  const live = liveMembers(members);
  const r = Math.min(replicationFactor, live.length);
  const bounds = spreadBounds(live, r);
  table.forEach((a, p) => {
    if (stuck.includes(p)) return;
    const rs = replicas(a);
    assert.equal(rs.length, r, `partition ${p}: ${rs.length} copies, expected ${r}`);
    assert.ok(a.primary !== null, `partition ${p}: no primary`);
    for (const n of rs) assert.ok(isLive(byId.get(n)), `partition ${p}: copy on ${n}, not live`);
    assert.deepEqual([...a.inSync].sort(), [...rs].sort(), `partition ${p}: not all in sync`);
    const perZone = new Map<string, number>();
    for (const n of rs) {
      const zone = zoneOf(byId.get(n) as Member);
      perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
    }
    for (const [zone, { low, high }] of bounds) {
      const k = perZone.get(zone) ?? 0;
      assert.ok(
        k >= low && k <= high,
        `partition ${p}: ${k} copies in ${zone}, not ${low}..${high}`,
      );
    }
  });
}

/**
 * Copies differ by at most one between live nodes, except where the spread rule pins a zone:
 * if node x holds two or more copies more than node y, then y's zone already holds its
 * maximum of every partition, or x's zone only its minimum. Inside a zone, always within one.
 */
export function assertCopiesBalanced(
  table: PartitionTable,
  members: readonly Member[],
  replicationFactor: number,
  stuck: readonly number[] = [],
): void {
  const live = liveMembers(members);
  const counted = table.map((_, p) => p).filter((p) => !stuck.includes(p));
  const copies = copiesByNode(table, counted);
  const r = Math.min(replicationFactor, live.length);
  const bounds = spreadBounds(live, r);
  const zoneTotals = new Map<string, number>();
  for (const m of live)
    zoneTotals.set(zoneOf(m), (zoneTotals.get(zoneOf(m)) ?? 0) + (copies.get(m.id) ?? 0));
  for (const x of live) {
    for (const y of live) {
      const cx = copies.get(x.id) ?? 0;
      const cy = copies.get(y.id) ?? 0;
      if (cx - cy < 2) continue;
      assert.notEqual(zoneOf(x), zoneOf(y), `${x.id} holds ${cx}, ${y.id} ${cy} in one zone`);
      const yFull =
        zoneTotals.get(zoneOf(y)) === counted.length * (bounds.get(zoneOf(y))?.high ?? 0);
      const xAtMinimum =
        zoneTotals.get(zoneOf(x)) === counted.length * (bounds.get(zoneOf(x))?.low ?? 0);
      assert.ok(yFull || xAtMinimum, `${x.id} holds ${cx}, ${y.id} ${cy}, and no zone is pinned`);
    }
  }
}

/** Replica sets (as sorted node lists) of every partition, for before/after comparisons. */
export function replicaSets(table: PartitionTable): string[] {
  return table.map((a) => replicas(a).sort().join(','));
}

export function holders(table: PartitionTable, node: string): number[] {
  return table.map((a, p) => (replicas(a).includes(node) ? p : -1)).filter((p) => p >= 0);
}

/** Membership events for sequences. */
export type Event =
  | { readonly kind: 'join'; readonly zonePick: number }
  | { readonly kind: 'drain'; readonly pick: number }
  | { readonly kind: 'fail'; readonly pick: number };

export const eventArb: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant('join' as const), zonePick: fc.nat() }),
  fc.record({ kind: fc.constant('drain' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('fail' as const), pick: fc.nat() }),
);

/**
 * The membership after `event`. A join adds a joining node (in one of the cluster's zones, if
 * it has any); a drain or a failure picks one of the live nodes, and never the last one.
 */
export function applyEvent(
  members: readonly Member[],
  zones: readonly string[],
  event: Event,
  serial: number,
): Member[] {
  if (event.kind === 'join') {
    const id = `j${String(serial).padStart(2, '0')}`;
    const zone = zones.length === 0 ? undefined : zones[event.zonePick % zones.length];
    return [
      ...members,
      zone === undefined ? { id, state: 'joining' } : { id, zone, state: 'joining' },
    ];
  }
  const live = liveMembers(members);
  if (live.length <= 1) return [...members];
  const victim = live[event.pick % live.length] as Member;
  const state = event.kind === 'drain' ? ('draining' as const) : ('dead' as const);
  return members.map((m) => (m.id === victim.id ? { ...m, state } : m));
}

/** After convergence: joiners become active, drained nodes (now empty) leave the list. */
export function settle(members: readonly Member[], table: PartitionTable): Member[] {
  return members
    .filter((m) => m.state !== 'draining' || holders(table, m.id).length > 0)
    .map((m) => (m.state === 'joining' ? { ...m, state: 'active' as const } : m));
}

/**
 * The control loop of `converge`, step by step, so a test can look at every plan and every
 * table along the way: copies catch up between rounds, plans are applied in order.
 */
export function walk(
  table: PartitionTable,
  members: readonly Member[],
  options: PlacementOptions,
  visit: (before: PartitionTable, plan: PlacementPlan) => void,
  roundsMax = 1_000,
): PartitionTable {
  const dead = (n: string): boolean => {
    const m = members.find((x) => x.id === n);
    return m === undefined || m.state === 'dead';
  };
  let now = table;
  for (let round = 0; round < roundsMax; round++) {
    now = now.map((a) =>
      a.primary === null || dead(a.primary)
        ? a
        : {
            ...a,
            inSync: replicas(a)
              .filter((n) => !dead(n) || a.inSync.includes(n))
              .sort(),
          },
    );
    const plan = planMoves(now, members, options);
    visit(now, plan);
    if (plan.changes.length === 0) return now;
    for (const change of plan.changes) now = applyMove(now, change);
  }
  assert.fail(`no convergence in ${roundsMax} rounds`);
}

/** Arbitrary tables over arbitrary members, well formed but otherwise anything goes. */
export function messyClusterArb(): fc.Arbitrary<{
  members: Member[];
  table: PartitionTable;
  replicationFactor: number;
}> {
  const state = fc.constantFrom(
    'active',
    'active',
    'joining',
    'draining',
    'dead',
    'dead',
  ) as fc.Arbitrary<Member['state']>;
  return fc
    .record({
      states: fc.array(state, { minLength: 1, maxLength: 8 }),
      zoned: fc.boolean(),
      zonePicks: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
      replicationFactor: fc.integer({ min: 1, max: 3 }),
      partitions: fc.array(
        fc.record({
          picks: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
          primaryPick: fc.option(fc.nat(), { nil: null }),
          syncPicks: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        }),
        { minLength: 1, maxLength: 24 },
      ),
    })
    .map(({ states, zoned, zonePicks, replicationFactor, partitions }) => {
      const members: Member[] = states.map((s, i) =>
        zoned
          ? { id: nodeId(i), zone: `z${(zonePicks[i] ?? 0) % 3}`, state: s }
          : { id: nodeId(i), state: s },
      );
      const table = partitions.map(({ picks, primaryPick, syncPicks }) => {
        const held = members.filter((_, i) => picks[i] === true).map((m) => m.id);
        const primary =
          primaryPick === null || held.length === 0
            ? null
            : (held[primaryPick % held.length] as string);
        const backups = held.filter((n) => n !== primary);
        const inSync = held.filter((n, i) => n === primary || syncPicks[i] === true).sort();
        return { epoch: 1, primary, backups, inSync };
      });
      return { members, table, replicationFactor };
    });
}

/**
 * The fewest primaries the busiest live node must carry, given where the copies are: the
 * smallest M such that every partition can pick a copy as primary with no node picking more
 * than M (capacitated bipartite matching by augmenting paths; an independent check of the
 * planner's min-cost flow).
 */
export function fewestPrimariesOnBusiestNode(
  table: PartitionTable,
  members: readonly Member[],
): number {
  const live = new Set(members.filter((m) => m.state !== 'dead').map((m) => m.id));
  const choices = table.map(
    (a) =>
      [...new Set([a.primary, ...a.backups])].filter((n) => n !== null && live.has(n)) as string[],
  );
  const placed = choices.filter((c) => c.length > 0);
  for (let cap = 1; ; cap++) {
    const load = new Map<string, number[]>();
    const tryPlace = (p: number, seen: Set<string>): boolean => {
      for (const n of placed[p]!) {
        if (seen.has(n)) continue;
        seen.add(n);
        const on = load.get(n) ?? [];
        if (on.length < cap) {
          load.set(n, [...on, p]);
          return true;
        }
        for (let k = 0; k < on.length; k++) {
          if (tryPlace(on[k]!, seen)) {
            on[k] = p;
            return true;
          }
        }
      }
      return false;
    };
    if (placed.every((_, p) => tryPlace(p, new Set()))) return cap;
  }
}
