/**
 * Regression, found by the data-plane simulator (seeds 16, 20, 26, 31, 39 and 51 of the first
 * 60, before the fix): an incarnation counted as replaced only while a newer one of its name
 * was alive. When the newer one was declared dead in turn (cut off for a second), the old one
 * looked like the name's holder again: the controller added it back to Raft, revived it as
 * soon as it seemed heard, and then took the newer one, admitted and running, for the
 * replaced one and removed it from Raft and from the cluster. That node never heard from the
 * cluster again and the cluster never settled. Which incarnation replaced which is now a fact
 * of the log (the order of their joins), not of who is alive.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState, decide } from '../../src/control/index.js';
import type { Membership } from '../../src/raft/index.js';
import { activeMember, foundedCluster } from './helpers.js';

/** a~0 founded the cluster, b~0 joined, b~1 replaced it, and b~1 was then declared dead. */
function bothIncarnationsDead(): ClusterState {
  const state = foundedCluster(['a~0', 'b~0', 'b~1'].map(activeMember), 4);
  state.apply({ type: 'setState', id: 'b~1', state: 'dead' });
  return state;
}

const now = 10_000;
const membership: Membership = { voters: ['a~0'], learners: ['b~1'] };

function decideOn(state: ClusterState, lastHeard: ReadonlyMap<string, number>) {
  return decide({
    state,
    membership,
    self: 'a~0',
    now,
    lastHeard,
    leaderSince: 0,
    caughtUp: () => true,
    options: { failureTimeoutMs: 1_000, votersMax: 3 },
  });
}

test('an old incarnation is not added back to Raft when the incarnation that replaced it dies', () => {
  const decision = decideOn(bothIncarnationsDead(), new Map([['a~0', now]]));
  assert.notDeepEqual(decision.configChange, { type: 'addLearner', node: 'b~0' });
});

test('an old incarnation heard after the incarnation that replaced it died is not revived', () => {
  const heard = new Map([
    ['a~0', now],
    ['b~0', now - 100],
  ]);
  const decision = decideOn(bothIncarnationsDead(), heard);
  assert.ok(
    !decision.commands.some((c) => c.type === 'setState' && c.id === 'b~0'),
    JSON.stringify(decision.commands),
  );
});

test('an old incarnation is removed once it holds nothing, though the incarnation that replaced it is dead', () => {
  const decision = decideOn(bothIncarnationsDead(), new Map([['a~0', now]]));
  assert.deepEqual(decision.commands, [{ type: 'remove', id: 'b~0' }]);
});

test('a replaced incarnation cannot be set active again, whoever proposes it', () => {
  const state = bothIncarnationsDead();
  const result = state.apply({ type: 'setState', id: 'b~0', state: 'active' });
  assert.equal(result.applied, false);
  assert.equal(state.member('b~0')?.state, 'dead');
});

test('which incarnation was replaced survives a snapshot', () => {
  const restored = new ClusterState();
  restored.restore(bothIncarnationsDead().snapshot());
  assert.ok(restored.isReplaced('b~0'));
  assert.ok(!restored.isReplaced('b~1'));
});

test('an incarnation that joins again after a newer one is no longer the replaced one', () => {
  const state = bothIncarnationsDead();
  state.apply({ type: 'join', member: activeMember('b~0') });
  assert.ok(!state.isReplaced('b~0'));
  assert.ok(state.isReplaced('b~1'));
});
