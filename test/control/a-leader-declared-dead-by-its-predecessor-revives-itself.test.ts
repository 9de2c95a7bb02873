/**
 * Regression, found by `npm run chaos` (seed 269552620): the Raft leader n1 was cut off one
 * way (it could send, not hear). Unable to hear anyone, it proposed every other member dead;
 * the entries reached the followers, whose acknowledgements could not reach n1. n5 was then
 * elected, and committing an entry of its own term committed those too (as Raft must), n5's
 * own death included. n5 revived n2, n3 and n4, which it heard, but never itself, since a
 * node does not hear its own messages: the cluster kept a dead member that was its leader,
 * and never settled again. A leader is alive by definition.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../src/control/index.js';
import { activeMember, foundedCluster } from './helpers.js';

const now = 10_000;

function decideAs(self: string, deadIds: readonly string[]) {
  const state = foundedCluster(['a', 'b', 'c'].map(activeMember), 4);
  for (const id of deadIds) state.apply({ type: 'setState', id, state: 'dead' });
  const heard = new Map(['a', 'b', 'c'].filter((id) => id !== self).map((id) => [id, now]));
  return decide({
    state,
    membership: { voters: ['a', 'b', 'c'], learners: [] },
    self,
    now,
    lastHeard: heard,
    leaderSince: now - 5_000,
    caughtUp: () => true,
    options: { failureTimeoutMs: 1_000, votersMax: 3 },
  });
}

test('a leader that the committed state calls dead marks itself active', () => {
  const decision = decideAs('c', ['a', 'b', 'c']);
  assert.deepEqual(
    decision.commands.filter((c) => c.type === 'setState').map((c) => [c.id, c.state]),
    [
      ['a', 'active'],
      ['b', 'active'],
      ['c', 'active'],
    ],
  );
});

test('a leader alive in the state does not propose itself active again', () => {
  const decision = decideAs('c', ['a']);
  assert.ok(!decision.commands.some((c) => c.type === 'setState' && c.id === 'c'));
});
