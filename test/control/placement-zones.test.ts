import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { converge, initialTable, type Member } from '../../src/control/index.js';
import {
  applyEvent,
  assertWellFormed,
  clusterArb,
  eventArb,
  liveMembers,
  optionsOf,
  replicas,
  settle,
  walk,
  zoneOf,
} from './helpers.js';

function zonesOfCopies(members: readonly Member[], nodes: readonly string[]): string[] {
  const byId = new Map(members.map((m) => [m.id, m] as const));
  return nodes.map((n) => zoneOf(byId.get(n) as Member));
}

test('with at least RF zones, no two copies of a partition share a zone, after any sequence of changes', () => {
  fc.assert(
    fc.property(
      clusterArb({ zones: 'any' }),
      fc.array(eventArb, { minLength: 0, maxLength: 3 }),
      (c, events) => {
        let members: Member[] = c.members;
        let table = initialTable(members, c.partitionCount, c.replicationFactor);
        const check = (): void => {
          const live = liveMembers(members);
          const zones = new Set(live.map(zoneOf)).size;
          if (zones < c.replicationFactor) return;
          table.forEach((a, p) => {
            const zs = zonesOfCopies(members, replicas(a));
            assert.equal(new Set(zs).size, zs.length, `partition ${p}: two copies in one zone`);
          });
        };
        check();
        events.forEach((event, serial) => {
          members = applyEvent(members, c.zones, event, serial);
          const result = converge(table, members, optionsOf(c));
          table = result.table;
          if (result.stuck.length === 0) check();
          members = settle(members, table);
        });
      },
    ),
    { numRuns: 60 },
  );
});

test('three copies over two zones are split two and one', () => {
  const members: Member[] = ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'].map((id) => ({
    id,
    zone: id[0] as string,
    state: 'active',
  }));
  const table = initialTable(members, 64, 3);
  for (const a of table) {
    const zs = zonesOfCopies(members, replicas(a)).sort();
    assert.ok(zs.join() === 'zone:a,zone:a,zone:b' || zs.join() === 'zone:a,zone:b,zone:b');
  }
});

test('a zone with a single node gets one copy of every partition when the spread rule needs it there', () => {
  // RF 3 over zones {a: 1 node, b: 4 nodes}: at most 2 copies per zone, so zone a holds one of
  // every partition and its node holds far more than the others; that is the zone rule's cost.
  const members: Member[] = [
    { id: 'a1', zone: 'a', state: 'active' },
    ...['b1', 'b2', 'b3', 'b4'].map((id) => ({ id, zone: 'b', state: 'active' as const })),
  ];
  const table = initialTable(members, 64, 3);
  for (const a of table) assert.ok(replicas(a).includes('a1'));
  const b1 = table.filter((a) => replicas(a).includes('b1')).length;
  assert.equal(b1, 32);
});

test('no table along the way ever holds two copies of a partition on one node', () => {
  fc.assert(
    fc.property(
      clusterArb({ nodesMax: 10 }),
      fc.array(eventArb, { minLength: 1, maxLength: 3 }),
      (c, events) => {
        let members: Member[] = c.members;
        let table = initialTable(members, c.partitionCount, c.replicationFactor);
        events.forEach((event, serial) => {
          members = applyEvent(members, c.zones, event, serial);
          table = walk(table, members, optionsOf(c), (before) => assertWellFormed(before));
          members = settle(members, table);
        });
      },
    ),
    { numRuns: 40 },
  );
});
