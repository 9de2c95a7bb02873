/**
 * Regression, found by `npm run chaos` (seed 269552620, fault 3): the Raft leader n1 was cut
 * off one way, so it sent but heard nothing. As a primary it heard no acknowledgement from
 * its backups and reported them lagging to itself; as the leader it proposed them out of
 * sync, and the entries reached the followers. The next leader's election committed them,
 * then declared n1 dead: 26 partitions were left with no in-sync copy but n1's, and no
 * primary until the cut healed. A leader that hears no majority can commit nothing, so it
 * now proposes nothing; check-quorum deposes it within an election timeout.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../src/control/index.js';
import { activeMember, foundedCluster } from './helpers.js';

const now = 10_000;

function decideHearing(heard: readonly string[]) {
  const state = foundedCluster(['a', 'b', 'c'].map(activeMember), 4);
  const primaryOfA = state.table.findIndex((p) => p.primary === 'a');
  const backup = state.table[primaryOfA]!.backups[0]!;
  return decide({
    state,
    membership: { voters: ['a', 'b', 'c'], learners: [] },
    self: 'a',
    now,
    lastHeard: new Map(heard.map((id) => [id, now])),
    leaderSince: now - 5_000,
    caughtUp: () => true,
    lagging: [{ partition: primaryOfA, node: backup, epoch: state.table[primaryOfA]!.epoch }],
    options: { failureTimeoutMs: 1_000, votersMax: 3 },
  });
}

test('a leader that hears no other voter proposes no deaths and no lagging copies', () => {
  const decision = decideHearing([]);
  assert.deepEqual(decision.commands, []);
  assert.equal(decision.configChange, null);
});

test('a leader that hears a majority acts on what it hears', () => {
  const decision = decideHearing(['b']);
  const kinds = decision.commands.map((c) =>
    c.type === 'setState' ? `${c.id} ${c.state}` : c.type,
  );
  assert.ok(kinds.includes('c dead'), `proposed: ${kinds.join(', ')}`);
});
