/**
 * The leader's grant (HeartbeatMessage.granted): a leader flags a member's heartbeat answer
 * as granted only once a quorum answered a round that started after that answer arrived, so
 * every later leader was elected after the answer was sent. control-plane.ts turns it into
 * the time until which a fenced primary may serve.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { HeartbeatMessage, Message } from '../../src/raft/index.js';
import { Cluster, type Data } from './support/cluster.js';

function heartbeatsTo(c: Cluster, to: string): HeartbeatMessage[] {
  return c.delivered.filter(
    (m: Message<Data>): m is HeartbeatMessage => m.type === 'heartbeat' && m.to === to,
  );
}

function newestGrant(c: Cluster, to: string): number {
  return Math.max(0, ...heartbeatsTo(c, to).map((m) => m.granted));
}

test('a member is granted nothing while no quorum answers a round after its answer', () => {
  const five = ['a', 'b', 'c', 'd', 'e'];
  const c = new Cluster({ voters: five, seed: 11 });
  c.campaign('a');
  c.stabilize();
  c.recordDeliveries = true;
  // a and b are 2 of 5 voters: b's answers arrive, but no round is ever confirmed.
  c.filter = (m) => !(m.type === 'heartbeatResp' && ['c', 'd', 'e'].includes(m.from));
  c.tickAll(10);
  assert.ok(heartbeatsTo(c, 'b').length >= 5);
  assert.equal(newestGrant(c, 'b'), 0);
  assert.equal(c.raft('a').status().confirmedRound, 0);
  // With c's answers a, b and c are a quorum: rounds are confirmed, and b's answers granted.
  c.filter = (m) => !(m.type === 'heartbeatResp' && ['d', 'e'].includes(m.from));
  c.tickAll(3);
  assert.ok(newestGrant(c, 'b') > 0);
  assert.ok(c.raft('a').status().confirmedRound > 0);
});

test('a grant names an answer to an earlier round than the heartbeat carrying it', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 12 });
  c.campaign('a');
  c.stabilize();
  c.recordDeliveries = true;
  c.tickAll(10);
  const granting = heartbeatsTo(c, 'b').filter((m) => m.granted > 0);
  assert.ok(granting.length >= 5);
  // The answer granted arrived before the confirmed round started, so that round, and the
  // heartbeat carrying the grant, came later.
  for (const m of granting)
    assert.ok(m.granted < m.context, `granted ${m.granted}, round ${m.context}`);
});

test('a learner is granted like a voter, though its answers confirm no round', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], learners: ['l'], seed: 13 });
  c.campaign('a');
  c.stabilize();
  c.recordDeliveries = true;
  c.tickAll(5);
  assert.ok(newestGrant(c, 'l') > 0);
});

test('a deposed leader grants its own side nothing newer after another leader was elected', () => {
  const five = ['a', 'b', 'c', 'd', 'e'];
  const c = new Cluster({ voters: five, seed: 14, settings: { checkQuorum: false } });
  c.campaign('a');
  c.stabilize();
  c.tickAll(5);
  const oldTerm = c.raft('a').status().term;
  const toE: HeartbeatMessage[] = [];
  c.filter = (m) => {
    if (m.type === 'heartbeat' && m.from === 'a' && m.to === 'e') toE.push(m);
    return true;
  };
  // a and e are cut off together (or a sleeps, as a SIGSTOP'd process does, with e beside it).
  // e keeps answering a at the old term; the other three elect b.
  c.partition(['a', 'e'], ['b', 'c', 'd']);
  c.tick('a');
  c.stabilize();
  const atCut = Math.max(...toE.map((m) => m.granted));
  assert.ok(atCut > 0);
  c.campaign('b');
  c.stabilize();
  assert.equal(c.leader(), 'b');
  toE.length = 0;
  c.tickAll(20);
  assert.equal(c.raft('a').status().role, 'leader', 'a believes it still leads');
  assert.ok(toE.filter((m) => m.term === oldTerm).length >= 10);
  for (const m of toE)
    assert.ok(m.granted <= atCut, `a granted e answer ${m.granted} after the cut`);
});

test('a lone voter confirms each of its rounds itself', () => {
  const c = new Cluster({ voters: ['a'], seed: 15 });
  c.campaign('a');
  c.stabilize();
  const before = c.raft('a').status().confirmedRound;
  c.tickAll(3);
  assert.ok(c.raft('a').status().confirmedRound > before);
});
