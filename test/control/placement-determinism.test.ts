import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initialTable, planMoves, type Member } from '../../src/control/index.js';
import { applyEvent, clusterArb, eventArb, messyClusterArb, optionsOf } from './helpers.js';

test('the same table, members and options give the same plan', () => {
  fc.assert(
    fc.property(messyClusterArb(), ({ members, table, replicationFactor }) => {
      const options = { replicationFactor, maxMovesInFlight: 3 };
      assert.deepEqual(planMoves(table, members, options), planMoves(table, members, options));
    }),
    { numRuns: 200 },
  );
});

test('the order of the member list changes neither the plan nor the initial table', () => {
  fc.assert(
    fc.property(
      clusterArb({ nodesMax: 10 }),
      eventArb,
      fc.func(fc.integer()),
      (c, event, order) => {
        const shuffle = (ms: readonly Member[]): Member[] =>
          ms
            .map((m, i) => ({ m, key: order(m.id, i) }))
            .sort((x, y) => x.key - y.key)
            .map(({ m }) => m);
        const table = initialTable(c.members, c.partitionCount, c.replicationFactor);
        assert.deepEqual(
          initialTable(shuffle(c.members), c.partitionCount, c.replicationFactor),
          table,
        );
        const members = applyEvent(c.members, c.zones, event, 0);
        assert.deepEqual(
          planMoves(table, shuffle(members), optionsOf(c)),
          planMoves(table, members, optionsOf(c)),
        );
      },
    ),
    { numRuns: 60 },
  );
});
