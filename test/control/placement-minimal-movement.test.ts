import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  converge,
  initialTable,
  movesInFlightMaxDefault,
  planMoves,
  type Member,
  type PartitionTable,
} from '../../src/control/index.js';
import {
  clusterArb,
  copiesByNode,
  holders,
  liveMembers,
  messyClusterArb,
  nodeId,
  optionsOf,
  replicaSets,
  replicas,
  spreadBounds,
  zoneOf,
  type Cluster,
} from './helpers.js';

function balanced(c: Cluster): PartitionTable {
  return converge(
    initialTable(c.members, c.partitionCount, c.replicationFactor),
    c.members,
    optionsOf(c),
  ).table;
}

// The slack is 0. The new node's share is at most ceil(P*R/(N+1)) copies, and every other node's
// new share is at most what it already holds (a balanced node holds floor or ceil of P*R/N, and
// the flow hands the rounding extras to the nodes that hold more), so the only copies to create
// are the new node's. Each old node gives up whole partitions and the new node can take any
// of them, so no chain of moves is needed.
test('a join to a balanced cluster without zones creates at most ceil(P*R/(N+1)) copies', () => {
  fc.assert(
    fc.property(clusterArb({ zones: 'none' }), (c) => {
      const table = balanced(c);
      const joined: Member[] = [...c.members, { id: 'new', state: 'joining' }];
      const result = converge(table, joined, optionsOf(c));
      const n = c.members.length;
      const r = Math.min(c.replicationFactor, n + 1);
      assert.ok(result.copiesMoved <= Math.ceil((c.partitionCount * r) / (n + 1)));
      assert.equal(result.copiesMoved, copiesByNode(result.table).get('new') ?? 0);
    }),
    { numRuns: 80 },
  );
});

// With zones we allow a slack of one copy per zone beyond the first (zones - 1). A copy can
// only enter the new node's zone if its partition has no copy there yet. When a node must give
// up a copy and every partition it holds already has a copy in the new node's zone, it takes
// a detour: the copy goes to another node, which hands the new node a partition its zone
// lacks, and that is one extra copy created. The allowance is measured, not proven: over
// 3,000 random clusters of equal zones the worst was 1 extra copy. (Uneven zones are
// different: a join can un-pin a zone, and then the spread rule itself moves more copies.)
test('a join to a balanced cluster with zones of equal size creates at most ceil(P*R/(N+1)) + zones - 1 copies', () => {
  fc.assert(
    fc.property(clusterArb({ zones: 'equal' }), fc.nat(), (c, pick) => {
      const table = balanced(c);
      const zone = c.zones[pick % c.zones.length] as string;
      const joined: Member[] = [...c.members, { id: 'new', zone, state: 'joining' }];
      const result = converge(table, joined, optionsOf(c));
      const n = c.members.length;
      const r = Math.min(c.replicationFactor, n + 1);
      const slack = c.zones.length - 1;
      assert.ok(result.copiesMoved <= Math.ceil((c.partitionCount * r) / (n + 1)) + slack);
    }),
    { numRuns: 80 },
  );
});

test('a join of the sixteenth node to three zones of five needs one detour, and takes only one', () => {
  // The case behind the zone slack: n03 (z0) and n04 (z1) each hold one copy over their new
  // share. The new node, in z0, takes n03's extra copy directly, but every partition n04 holds
  // already has a copy in z0: so n04's copy goes to n01, and n01 hands the new node a
  // partition that z0 lacks.
  const members: Member[] = Array.from({ length: 15 }, (_, i) => ({
    id: nodeId(i),
    zone: `z${i % 3}`,
    state: 'active' as const,
  }));
  const table = balanced({ members, partitionCount: 16, replicationFactor: 2, zones: [] });
  const zone = (id: string): string | undefined => members.find((m) => m.id === id)?.zone;
  const n04 = holders(table, 'n04');
  assert.ok(
    n04.every((p) => replicas(table[p] as PartitionTable[number]).some((n) => zone(n) === 'z0')),
    'the setup changed: n04 now holds a partition without a copy in z0',
  );
  const result = converge(table, [...members, { id: 'new', zone: 'z0', state: 'joining' }], {
    replicationFactor: 2,
  });
  assert.equal(result.copiesMoved, Math.ceil((16 * 2) / 16) + 1);
});

test('a failure without zones re-creates exactly the copies the dead node held and touches no other partition', () => {
  fc.assert(
    fc.property(clusterArb({ zones: 'none', nodesMin: 2 }), fc.nat(), (c, pick) => {
      fc.pre(c.replicationFactor >= 2);
      const table = balanced(c);
      const victim = c.members[pick % c.members.length] as Member;
      const members = c.members.map((m) => (m === victim ? { ...m, state: 'dead' as const } : m));
      const lost = holders(table, victim.id);
      const result = converge(table, members, optionsOf(c));
      // With fewer survivors than RF every partition keeps one copy fewer: nothing to create.
      const same =
        Math.min(c.replicationFactor, c.members.length - 1) ===
        Math.min(c.replicationFactor, c.members.length);
      assert.equal(result.copiesMoved, same ? lost.length : 0);
      const before = replicaSets(table);
      const after = replicaSets(result.table);
      before.forEach((set, p) => {
        if (!lost.includes(p)) assert.equal(after[p], set, `partition ${p} changed`);
      });
    }),
    { numRuns: 100 },
  );
});

// With zones, "no two copies in a zone" and "within one copy of each other" can together ask
// for a few copies beyond the lost ones: a lost partition can only be re-created in a zone that
// lacks it, and if the nodes short of their share are all in zones that already hold the lost
// partitions, another partition has to make room. The fewest such moves are checked against
// brute force below; here: every lost copy is re-created and nothing is lost.
test('a failure with zones re-creates every lost copy', () => {
  fc.assert(
    fc.property(clusterArb({ zones: 'equal', nodesMin: 2 }), fc.nat(), (c, pick) => {
      fc.pre(c.replicationFactor >= 2 && c.members.length > c.replicationFactor);
      const table = balanced(c);
      const victim = c.members[pick % c.members.length] as Member;
      const members = c.members.map((m) => (m === victim ? { ...m, state: 'dead' as const } : m));
      const result = converge(table, members, optionsOf(c));
      assert.ok(result.copiesMoved >= holders(table, victim.id).length);
      assert.deepEqual(result.stuck, []);
      for (const a of result.table) assert.equal(replicas(a).length, c.replicationFactor);
    }),
    { numRuns: 60 },
  );
});

test('a plan never proposes more new copies than maxMovesInFlight, counting copies still catching up', () => {
  fc.assert(
    fc.property(
      messyClusterArb(),
      fc.integer({ min: 1, max: 6 }),
      ({ members, table, replicationFactor }, maxMovesInFlight) => {
        const plan = planMoves(table, members, { replicationFactor, maxMovesInFlight });
        const stuck = new Set(plan.stuck);
        const dead = (n: string): boolean =>
          (members.find((m) => m.id === n)?.state ?? 'dead') === 'dead';
        const catchingUp = table
          .filter((_, p) => !stuck.has(p))
          .reduce(
            (sum, a) => sum + replicas(a).filter((n) => !dead(n) && !a.inSync.includes(n)).length,
            0,
          );
        const adds = plan.changes.filter((ch) => ch.kind === 'addBackup').length;
        assert.ok(adds <= Math.max(0, maxMovesInFlight - catchingUp));
      },
    ),
    { numRuns: 300 },
  );
});

test('a join is spread over rounds of at most maxMovesInFlight copies', () => {
  const members: Member[] = [0, 1, 2].map((i) => ({ id: nodeId(i), state: 'active' }));
  const table = initialTable(members, 256, 2);
  const joined: Member[] = [...members, { id: 'new', state: 'joining' }];
  const first = planMoves(table, joined, { replicationFactor: 2 });
  const adds = first.changes.filter((ch) => ch.kind === 'addBackup');
  assert.equal(adds.length, movesInFlightMaxDefault(256));
  const result = converge(table, joined, { replicationFactor: 2, maxMovesInFlight: 8 });
  assert.equal(result.copiesMoved, 128);
  assert.ok(result.rounds >= 128 / 8);
});

/**
 * The slow obvious check: every placement of a tiny cluster that obeys the spread rule and
 * keeps copies within one of each other, and the fewest copies any of them needs created.
 */
function bruteForceMinimum(
  table: PartitionTable,
  members: readonly Member[],
  replicationFactor: number,
): number | null {
  const live = liveMembers(members);
  const r = Math.min(replicationFactor, live.length);
  const bounds = spreadBounds(live, r);
  const subsets: string[][] = [];
  const pick = (from: number, chosen: string[]): void => {
    if (chosen.length === r) {
      const perZone = new Map<string, number>();
      for (const id of chosen) {
        const z = zoneOf(live.find((m) => m.id === id) as Member);
        perZone.set(z, (perZone.get(z) ?? 0) + 1);
      }
      const ok = [...bounds].every(
        ([z, b]) => (perZone.get(z) ?? 0) >= b.low && (perZone.get(z) ?? 0) <= b.high,
      );
      if (ok) subsets.push([...chosen]);
      return;
    }
    for (let i = from; i < live.length; i++) pick(i + 1, [...chosen, (live[i] as Member).id]);
  };
  pick(0, []);
  const total = table.length * r;
  const high = Math.ceil(total / live.length);
  const low = Math.floor(total / live.length);
  const counts = new Map<string, number>();
  let best: number | null = null;
  const place = (p: number, cost: number): void => {
    if (best !== null && cost >= best) return;
    if (p === table.length) {
      if (live.every((m) => (counts.get(m.id) ?? 0) >= low)) best = cost;
      return;
    }
    const held = replicas(table[p] as PartitionTable[number]);
    for (const s of subsets) {
      if (s.some((n) => (counts.get(n) ?? 0) >= high)) continue;
      for (const n of s) counts.set(n, (counts.get(n) ?? 0) + 1);
      place(p + 1, cost + s.filter((n) => !held.includes(n)).length);
      for (const n of s) counts.set(n, (counts.get(n) ?? 0) - 1);
    }
  };
  place(0, 0);
  return best;
}

test('convergence creates the fewest copies any balanced, zone-respecting placement needs (against brute force)', () => {
  const smallCluster = fc
    .record({
      states: fc.array(fc.constantFrom('active', 'active', 'joining', 'draining', 'dead'), {
        minLength: 2,
        maxLength: 5,
      }),
      zoned: fc.boolean(),
      zonePicks: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
      replicationFactor: fc.integer({ min: 1, max: 3 }),
      partitions: fc.array(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), {
        minLength: 1,
        maxLength: 5,
      }),
      primaryPicks: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    })
    .map(({ states, zoned, zonePicks, replicationFactor, partitions, primaryPicks }) => {
      const members: Member[] = states.map((state, i) =>
        zoned
          ? { id: nodeId(i), zone: `z${(zonePicks[i] ?? 0) % 2}`, state: state as Member['state'] }
          : { id: nodeId(i), state: state as Member['state'] },
      );
      const usable = members.filter((m) => m.state !== 'dead').map((m) => m.id);
      const table: PartitionTable = partitions.map((mask, p) => {
        const primary = usable[(primaryPicks[p] ?? 0) % Math.max(1, usable.length)] ?? null;
        const backups = members
          .filter((m, i) => mask[i] === true && m.id !== primary)
          .map((m) => m.id);
        return {
          epoch: 1,
          primary,
          backups,
          inSync: [primary, ...backups].filter((n) => n !== null).sort(),
        };
      });
      return { members, table, replicationFactor };
    });
  let compared = 0;
  fc.assert(
    fc.property(smallCluster, ({ members, table, replicationFactor }) => {
      fc.pre(liveMembers(members).length > 0 && table.every((a) => a.primary !== null));
      const best = bruteForceMinimum(table, members, replicationFactor);
      fc.pre(best !== null);
      compared++;
      const result = converge(table, members, { replicationFactor });
      assert.equal(result.copiesMoved, best);
    }),
    { numRuns: 300 },
  );
  assert.ok(compared > 100, `only ${compared} cases compared`);
});
