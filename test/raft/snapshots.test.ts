/**
 * Log compaction and InstallSnapshot: Raft paper section 7; and restarting from a snapshot
 * plus the log after it.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '../../src/core/assert.js';
import { Cluster, encodeState } from './support/cluster.js';

const three = ['a', 'b', 'c'];

function electA(c: Cluster): void {
  c.campaign('a');
  c.stabilize();
  assert.equal(c.raft('a').status().role, 'leader');
}

function proposeMany(c: Cluster, prefix: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    assert.ok(c.propose('a', `${prefix}${i}`).ok);
    out.push(`${prefix}${i}`);
  }
  c.stabilize();
  return out;
}

test('7: compaction replaces the applied prefix by a snapshot and keeps the entries after it', () => {
  const c = new Cluster({ voters: three, seed: 1 });
  electA(c);
  proposeMany(c, 'v', 10);
  const before = c.raft('a').status();
  c.compact('a');
  const after = c.raft('a').status();
  assert.equal(after.firstIndex, before.applied + 1);
  assert.equal(after.lastIndex, before.lastIndex);
  assert.equal(c.raft('a').termAt(before.applied), before.term, 'the last covered term is kept');
  assert.equal(c.raft('a').entryAt(before.applied), undefined);
  // The Ready handed the snapshot to storage, which dropped the entries it covers.
  const stored = c.node('a').stored;
  assert.equal(stored.snapshot?.meta.index, before.applied);
  assert.ok(stored.entries.every((e) => e.index > before.applied));
});

test('7: the snapshot records the membership in effect at its index', () => {
  const c = new Cluster({ voters: three, seed: 2 });
  electA(c);
  assert.ok(c.raft('a').proposeConfigChange({ type: 'addLearner', node: 'd' }).ok);
  c.addNode('d');
  c.stabilize();
  c.compact('a');
  assert.deepEqual(c.node('a').stored.snapshot?.meta.membership, {
    voters: ['a', 'b', 'c'],
    learners: ['d'],
  });
});

test('7: a follower that lags behind the first retained index is caught up by InstallSnapshot', () => {
  const c = new Cluster({ voters: three, seed: 3 });
  electA(c);
  c.crash('c');
  const early = proposeMany(c, 'early', 20);
  c.compact('a');
  c.compact('b');
  const late = proposeMany(c, 'late', 3);
  c.recordDeliveries = true;
  c.restart('c');
  c.tickAll(3);
  assert.ok(c.delivered.some((m) => m.type === 'snapshot' && m.to === 'c'));
  assert.deepEqual(c.node('c').appliedData(), [...early, ...late]);
  assert.ok(c.raft('c').status().firstIndex > 1, 'c starts its log after the snapshot');
  assert.equal(c.node('c').stored.snapshot?.meta.index, c.raft('a').status().firstIndex - 1);
});

test('7: a lost snapshot is sent again after an election timeout', () => {
  const c = new Cluster({ voters: three, seed: 4 });
  electA(c);
  c.crash('c');
  const data = proposeMany(c, 'v', 5);
  c.compact('a');
  c.compact('b');
  let lost = 0;
  c.filter = (m) => !(m.type === 'snapshot' && lost++ === 0);
  c.recordDeliveries = true;
  c.restart('c');
  c.tickAll(25);
  assert.equal(lost > 1, true, 'a second snapshot was sent');
  assert.deepEqual(c.node('c').appliedData(), data);
});

test('7: a snapshot that a follower already covers does not replace its log', () => {
  const c = new Cluster({ voters: three, seed: 5 });
  electA(c);
  proposeMany(c, 'v', 5);
  const b = c.raft('b');
  const { commit, lastIndex, term } = b.status();
  b.step({
    type: 'snapshot',
    from: 'a',
    to: 'b',
    term,
    snapshot: {
      meta: { index: 2, term, membership: { voters: three, learners: [] } },
      data: encodeState([]),
    },
  });
  const rd = b.ready();
  assert.equal(rd.snapshotToApply, undefined);
  assert.equal(rd.snapshotToPersist, undefined);
  const resp = rd.messages.find((m) => m.type === 'appendResp');
  assert.ok(resp?.type === 'appendResp' && resp.index === commit);
  b.advance();
  assert.equal(b.status().lastIndex, lastIndex);
});

test('7: a snapshot whose last entry the follower holds only moves its commit index', () => {
  const c = new Cluster({ voters: three, seed: 6 });
  electA(c);
  c.filter = (m) => !(m.type === 'append' && m.to === 'b' && m.entries.length === 0);
  proposeMany(c, 'v', 3);
  c.filter = null;
  const b = c.raft('b');
  const { lastIndex, term, commit } = b.status();
  assert.ok(commit < lastIndex, 'b has not learned that its last entry committed');
  b.step({
    type: 'snapshot',
    from: 'a',
    to: 'b',
    term,
    snapshot: {
      meta: { index: lastIndex, term, membership: { voters: three, learners: [] } },
      data: encodeState([]),
    },
  });
  assert.equal(b.status().commit, lastIndex);
  assert.equal(b.status().firstIndex, 1, 'the log is kept');
  c.handleReady(c.node('b'));
});

test('7: a node restarts from its snapshot plus the entries after it', () => {
  const c = new Cluster({ voters: three, seed: 7 });
  electA(c);
  const first = proposeMany(c, 'v', 10);
  c.compact('b');
  const second = proposeMany(c, 'w', 5);
  const before = c.raft('b').status();
  c.crash('b');
  c.restart('b');
  const after = c.raft('b').status();
  assert.equal(after.term, before.term);
  assert.equal(after.firstIndex, before.firstIndex);
  assert.equal(after.lastIndex, before.lastIndex);
  assert.equal(after.commit, before.commit);
  // The state machine is rebuilt from the snapshot, then the committed entries after it.
  assert.deepEqual(c.node('b').appliedData(), [...first, ...second]);
  c.tickAll(2);
  assert.equal(c.raft('b').status().leader, 'a');
});

test('7: a restarted leader can catch followers up from its restored snapshot', () => {
  const c = new Cluster({ voters: three, seed: 8 });
  electA(c);
  c.crash('c');
  const data = proposeMany(c, 'v', 8);
  c.compact('a');
  c.crash('a');
  c.restart('a');
  c.restart('c');
  c.campaign('a');
  c.stabilize();
  c.tickAll(3);
  assert.equal(c.leader(), 'a');
  assert.deepEqual(c.node('c').appliedData(), data);
});

test('compacting beyond the applied index is a programmer error', () => {
  const c = new Cluster({ voters: three, seed: 9 });
  electA(c);
  const applied = c.raft('a').status().applied;
  assert.throws(() => c.raft('a').compact(applied + 1, new Uint8Array()), AssertionError);
});
