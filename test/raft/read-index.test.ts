/**
 * Linearizable reads without writing to the log: Raft thesis section 6.4 (ReadIndex), and
 * paper section 8 (a new leader commits a no-op of its term first).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';

const three = ['a', 'b', 'c'];

function electA(c: Cluster): void {
  c.campaign('a');
  c.stabilize();
  assert.equal(c.raft('a').status().role, 'leader');
}

test('6.4: a leader serves a read only after a majority answered a heartbeat sent after the read began', () => {
  const c = new Cluster({ voters: three, seed: 1 });
  electA(c);
  c.filter = (m) => m.type !== 'heartbeatResp';
  assert.deepEqual(c.readIndex('a', 'r1'), { ok: true });
  c.tickAll(3);
  assert.deepEqual(c.node('a').readStates, [], 'no confirmation, no read');
  c.filter = null;
  c.tickAll(1);
  assert.deepEqual(c.node('a').readStates, [
    { requestId: 'r1', index: c.raft('a').status().commit },
  ]);
});

test('6.4: one heartbeat answer besides the leader is a majority of three', () => {
  const c = new Cluster({ voters: three, seed: 2 });
  electA(c);
  c.isolate('c');
  c.readIndex('a', 'r1');
  c.stabilize();
  assert.equal(c.node('a').readStates.length, 1);
});

test('6.4: a deposed leader never serves a read', () => {
  const c = new Cluster({ voters: three, seed: 3, settings: { checkQuorum: false } });
  electA(c);
  c.isolate('a');
  assert.deepEqual(c.readIndex('a', 'stale'), { ok: true });
  c.campaign('b');
  c.stabilize();
  assert.equal(c.leader(), 'b');
  c.propose('b', 'newer');
  c.stabilize();
  c.tick('a', 30);
  assert.deepEqual(c.node('a').readStates, []);
  c.heal();
  c.tickAll(5);
  assert.equal(c.raft('a').status().role, 'follower');
  assert.deepEqual(c.node('a').readStates, []);
});

test('6.4: a new leader holds reads until it has committed an entry of its own term', () => {
  const c = new Cluster({ voters: three, seed: 4 });
  c.filter = (m) => m.type !== 'appendResp';
  electA(c);
  c.readIndex('a', 'r1');
  c.tickAll(3);
  assert.deepEqual(c.node('a').readStates, []);
  c.filter = null;
  c.tickAll(2);
  const noop = c.raft('a').status().commit;
  assert.equal(c.raft('a').entryAt(noop)?.kind, 'noop');
  assert.deepEqual(c.node('a').readStates, [{ requestId: 'r1', index: noop }]);
});

test('6.4: a follower asks the leader and serves the read once it has applied the read index', () => {
  const c = new Cluster({ voters: three, seed: 5 });
  electA(c);
  // b stores the write but does not learn that it committed.
  c.filter = (m) =>
    !(m.to === 'b' && (m.type === 'heartbeat' || (m.type === 'append' && m.entries.length === 0)));
  const w = c.propose('a', 'written');
  c.stabilize();
  assert.ok(w.ok);
  assert.ok(c.raft('b').status().commit < w.index);
  assert.deepEqual(c.readIndex('b', 'r1'), { ok: true });
  c.stabilize();
  c.tickAll(1);
  assert.deepEqual(c.node('b').readStates, [], 'the read index is known but not applied');
  c.filter = null;
  c.tickAll(1);
  const served = c.node('b').readStates;
  assert.equal(served.length, 1);
  assert.ok((served[0]?.index ?? 0) >= w.index, 'the read covers the committed write');
  assert.ok(c.node('b').appliedIndex >= (served[0]?.index ?? Infinity));
  assert.ok(c.node('b').appliedData().includes('written'));
});

test('6.4: a single voter serves reads without a round trip', () => {
  const c = new Cluster({ voters: ['a'], seed: 6 });
  c.campaign('a');
  c.readIndex('a', 'r1');
  assert.deepEqual(c.node('a').readStates, [
    { requestId: 'r1', index: c.raft('a').status().commit },
  ]);
});

test('6.4: a node that knows no leader refuses a read', () => {
  const c = new Cluster({ voters: three, seed: 7 });
  assert.deepEqual(c.raft('b').readIndex('r1'), {
    ok: false,
    reason: 'not-leader',
    leaderHint: null,
  });
});

test('6.4: a leader refuses reads beyond its limit of pending reads', () => {
  const c = new Cluster({ voters: three, seed: 8, settings: { maxPendingReads: 2 } });
  electA(c);
  c.isolate('a');
  assert.ok(c.readIndex('a', 'r1').ok);
  assert.ok(c.readIndex('a', 'r2').ok);
  assert.deepEqual(c.readIndex('a', 'r3'), { ok: false, reason: 'overloaded' });
});
