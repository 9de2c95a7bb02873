/**
 * The leader grant's bookkeeping (control/leader-grant.ts): a member holds the grant until
 * its answer's send time plus the lease; a leader until its newest confirmed round's send
 * time plus the lease; an accept-loss waits out every grant the lost copies may hold.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { LeaderGrant } from '../../src/control/index.js';

test('a member holds the grant until its granted answer was sent plus the lease, on its own clock', () => {
  const g = new LeaderGrant(2_000);
  assert.equal(g.heldUntil, -Infinity);
  g.answerSent('leader', 3, 7, 1_000);
  g.answerSent('leader', 3, 8, 1_050);
  // Arrives much later (a slow network, a pause): the grant still runs from the send time.
  g.heartbeatReceived('leader', 3, 7);
  assert.equal(g.heldUntil, 3_000);
  g.heartbeatReceived('leader', 3, 8);
  assert.equal(g.heldUntil, 3_050);
});

test('a grant of an answer this member never sent, or sent to another leader or term, is ignored', () => {
  const g = new LeaderGrant(2_000);
  g.answerSent('old', 3, 7, 1_000);
  g.answerSent('new', 4, 2, 1_100);
  g.heartbeatReceived('old', 3, 7);
  g.heartbeatReceived('new', 4, 5);
  g.heartbeatReceived('new', 5, 2);
  assert.equal(g.heldUntil, -Infinity);
  g.heartbeatReceived('new', 4, 2);
  assert.equal(g.heldUntil, 3_100);
});

test('a grant never shrinks when an older answer is granted late', () => {
  const g = new LeaderGrant(2_000);
  g.answerSent('leader', 1, 1, 100);
  g.answerSent('leader', 1, 2, 200);
  g.heartbeatReceived('leader', 1, 2);
  g.heartbeatReceived('leader', 1, 1);
  assert.equal(g.heldUntil, 2_200);
});

test('a leader holds the grant from the send time of its newest round a quorum confirmed', () => {
  const g = new LeaderGrant(2_000);
  g.roundSent(5, 1, 1_000);
  g.roundSent(5, 2, 1_050);
  g.leadership({ term: 5, confirmedRound: 0, alone: false }, 1_060);
  assert.equal(g.heldUntil, -Infinity, 'no round confirmed yet');
  g.leadership({ term: 5, confirmedRound: 1, alone: false }, 1_070);
  assert.equal(g.heldUntil, 3_000);
  // Rounds of another term confirm nothing of this one's.
  g.leadership({ term: 6, confirmedRound: 2, alone: false }, 1_080);
  assert.equal(g.heldUntil, 3_000);
});

test('a lone voter grants itself: no other leader can exist', () => {
  const g = new LeaderGrant(2_000);
  g.leadership({ term: 1, confirmedRound: 0, alone: true }, 500);
  assert.equal(g.heldUntil, 2_500);
});

test('accept-loss waits a lease past both the leader taking office and its last grant to a lost copy, with drift', () => {
  const g = new LeaderGrant(2_000);
  assert.equal(g.grantsOverAt(['a']), null, 'only a leader can tell');
  g.leadership({ term: 2, confirmedRound: 0, alone: false }, 10_000);
  assert.equal(g.grantsOverAt([]), 12_400);
  g.grantSent('a', 11_000);
  g.grantSent('b', 15_000);
  assert.equal(g.grantsOverAt(['a']), 13_400);
  assert.equal(g.grantsOverAt(['a', 'b']), 17_400);
  // Losing office forgets when it took office: a later term waits again from its own start.
  g.leadership(null, 20_000);
  assert.equal(g.grantsOverAt(['a']), null);
  g.leadership({ term: 4, confirmedRound: 0, alone: false }, 30_000);
  assert.equal(g.grantsOverAt(['a']), 32_400);
});
