/** Leadership transfer: Raft thesis section 3.10 (TimeoutNow). */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';

const three = ['a', 'b', 'c'];

function electA(c: Cluster): void {
  c.campaign('a');
  c.stabilize();
  assert.equal(c.raft('a').status().role, 'leader');
}

test('3.10: leadership moves to an up-to-date voter on request, in the next term', () => {
  const c = new Cluster({ voters: three, seed: 1 });
  electA(c);
  const term = c.raft('a').status().term;
  assert.deepEqual(c.raft('a').transferLeadership('b'), { ok: true });
  c.handleReady(c.node('a'));
  c.stabilize();
  assert.equal(c.leader(), 'b');
  assert.equal(c.raft('b').status().term, term + 1);
  assert.equal(c.raft('a').status().leader, 'b');
});

test('3.10: the leader first brings a lagging target up to date', () => {
  const c = new Cluster({ voters: three, seed: 2 });
  electA(c);
  c.cut('a', 'c');
  c.propose('a', 'x');
  c.stabilize();
  c.heal();
  assert.ok(c.raft('a').transferLeadership('c').ok);
  c.handleReady(c.node('a'));
  c.stabilize();
  assert.equal(c.leader(), 'c');
  assert.deepEqual(c.node('c').appliedData(), ['x']);
});

test('3.10: proposals are refused while a transfer is under way, and accepted again once it times out', () => {
  const c = new Cluster({ voters: three, seed: 3 });
  electA(c);
  c.isolate('c');
  c.propose('a', 'x');
  c.stabilize();
  assert.ok(c.raft('a').transferLeadership('c').ok);
  assert.deepEqual(c.propose('a', 'y'), { ok: false, reason: 'transferring' });
  c.tick('a', 10);
  assert.equal(c.raft('a').status().role, 'leader');
  assert.ok(c.propose('a', 'y').ok);
});

test('3.10: a transfer to a learner or a stranger is refused', () => {
  const c = new Cluster({ voters: ['a', 'b'], learners: ['l'], seed: 4 });
  electA(c);
  const r1 = c.raft('a').transferLeadership('l');
  assert.ok(!r1.ok && r1.reason === 'invalid-target');
  const r2 = c.raft('a').transferLeadership('zz');
  assert.ok(!r2.ok && r2.reason === 'invalid-target');
  const r3 = c.raft('b').transferLeadership('a');
  assert.ok(!r3.ok && r3.reason === 'not-leader');
});
