/**
 * Log replication and commitment: Raft paper sections 5.3 and 5.4.2 (Figures 7 and 8), and
 * the flow control a leader applies per follower.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { storedLog, termsOf } from './support/fixtures.js';

const three = ['a', 'b', 'c'];

function electA(c: Cluster): void {
  c.campaign('a');
  c.stabilize();
  assert.equal(c.raft('a').status().role, 'leader');
}

test('5.3: an entry is committed and applied once a majority of voters store it', () => {
  const c = new Cluster({ voters: three, seed: 1 });
  electA(c);
  c.cut('a', 'c');
  const res = c.propose('a', 'x');
  assert.ok(res.ok);
  c.stabilize();
  assert.equal(c.raft('a').status().commit, res.index);
  assert.deepEqual(c.node('a').appliedData(), ['x']);
  assert.deepEqual(c.node('b').appliedData(), ['x']);
  assert.deepEqual(c.node('c').appliedData(), []);
});

test('5.3: an entry stored by the leader alone is not committed', () => {
  const c = new Cluster({ voters: three, seed: 2 });
  electA(c);
  const before = c.raft('a').status().commit;
  c.cut('a', 'b');
  c.cut('a', 'c');
  const res = c.propose('a', 'x');
  assert.ok(res.ok);
  c.stabilize();
  assert.equal(c.raft('a').status().lastIndex, res.index);
  assert.equal(c.raft('a').status().commit, before);
  assert.deepEqual(c.node('a').appliedData(), []);
});

test('5.3: a follower refuses to propose and names the leader instead', () => {
  const c = new Cluster({ voters: three, seed: 3 });
  electA(c);
  assert.deepEqual(c.propose('b', 'x'), { ok: false, reason: 'not-leader', leaderHint: 'a' });
});

test('5.3: every node applies the same entries in the same order', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c', 'd', 'e'], seed: 4 });
  electA(c);
  for (let i = 0; i < 20; i++) c.propose('a', `v${i}`);
  c.stabilize();
  const expected = Array.from({ length: 20 }, (_, i) => `v${i}`);
  for (const node of c.nodes.values()) assert.deepEqual(node.appliedData(), expected, node.id);
});

test('5.3: a follower rejects an append whose previous entry it does not hold, with a hint', () => {
  const c = new Cluster({ voters: three, seed: 5, storage: { b: storedLog([1, 1]) } });
  c.raft('b').step({
    type: 'append',
    from: 'a',
    to: 'b',
    term: 2,
    prevIndex: 3,
    prevTerm: 2,
    entries: [],
    commit: 0,
  });
  c.handleReady(c.node('b'));
  const resp = c.inFlight.find((m) => m.type === 'appendResp');
  assert.ok(resp?.type === 'appendResp');
  assert.equal(resp.reject, true);
  assert.equal(resp.index, 3);
  // Our last entry with a term of at most 2: index 2, term 1.
  assert.equal(resp.hintIndex, 2);
  assert.equal(resp.hintTerm, 1);
});

test("5.3: a follower drops its conflicting entries and everything after them for the leader's", () => {
  const c = new Cluster({ voters: three, seed: 6, storage: { b: storedLog([1, 1, 1, 1]) } });
  c.raft('b').step({
    type: 'append',
    from: 'a',
    to: 'b',
    term: 2,
    prevIndex: 1,
    prevTerm: 1,
    entries: [{ index: 2, term: 2, kind: 'normal', data: 'new' }],
    commit: 0,
  });
  c.handleReady(c.node('b'));
  assert.deepEqual(termsOf(c.raft('b')), [1, 2]);
  assert.deepEqual(
    c.node('b').stored.entries.map((e) => e.term),
    [1, 2],
  );
});

// Figure 7: a leader of term 8 and followers whose logs are missing entries (a, b), hold
// extra uncommitted entries (c, d), or both (e, f). The leader makes each follower's log
// identical to its own.
const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const figure7: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};
for (const [name, followerLog] of Object.entries(figure7)) {
  test(`5.3 (Figure 7 ${name}): the leader repairs a follower whose log diverges`, () => {
    const c = new Cluster({
      voters: ['leader', 'follower', 'voter'],
      seed: 7,
      settings: { preVote: false },
      storage: {
        leader: storedLog(leaderLog, { term: 7 }),
        voter: storedLog(leaderLog, { term: 7 }),
        follower: storedLog(followerLog, { term: 7 }),
      },
    });
    c.campaign('leader');
    c.stabilize();
    assert.equal(c.raft('leader').status().role, 'leader');
    assert.equal(c.raft('leader').status().term, 8);
    assert.deepEqual(termsOf(c.raft('follower')), [...leaderLog, 8]);
    for (let i = 1; i <= leaderLog.length; i++) {
      assert.deepEqual(c.raft('follower').entryAt(i), c.raft('leader').entryAt(i));
    }
    assert.equal(c.raft('follower').status().commit, leaderLog.length + 1);
  });
}

test('5.3: a reject hint lets the leader skip a whole term of mismatches in one round trip', () => {
  const mine = [1, ...Array.from({ length: 50 }, () => 3)];
  const theirs = [1, ...Array.from({ length: 50 }, () => 2)];
  const c = new Cluster({
    voters: ['a', 'b', 'c'],
    seed: 8,
    settings: { preVote: false },
    storage: {
      a: storedLog(mine, { term: 3 }),
      b: storedLog(theirs, { term: 3 }),
      c: storedLog(mine, { term: 3 }),
    },
  });
  c.recordDeliveries = true;
  c.campaign('a');
  c.stabilize();
  const rejects = c.delivered.filter((m) => m.type === 'appendResp' && m.reject && m.from === 'b');
  assert.ok(rejects.length <= 1, `${rejects.length} rejects`);
  assert.deepEqual(termsOf(c.raft('b')), [...mine, 4]);
});

test('5.4.2 (Figure 8): a leader does not commit an old-term entry because a majority stores it', () => {
  // Figure 8 (c): s1 leads term 4 and has copied index 2 (term 2) to s2 and s3, a majority
  // of five, while s5 holds a different index 2 of term 3.
  const c = new Cluster({
    voters: ['s1', 's2', 's3', 's4', 's5'],
    seed: 9,
    settings: { preVote: false, checkQuorum: false, maxEntriesPerAppend: 1 },
    storage: {
      s1: storedLog([1, 2], { term: 3, commit: 1 }),
      s2: storedLog([1, 2], { term: 3, commit: 1 }),
      s3: storedLog([1], { term: 3, commit: 1 }),
      s4: storedLog([1], { term: 3, commit: 1 }),
      s5: storedLog([1, 3], { term: 4, commit: 1 }),
    },
  });
  // Keep the term-4 no-op from reaching anyone, so only the term-2 entry spreads.
  c.rewrite = (m) =>
    m.type === 'append' ? { ...m, entries: m.entries.filter((e) => e.term !== 4) } : m;
  c.partition(['s1'], ['s4', 's5']);
  c.campaign('s1');
  c.stabilize();
  assert.equal(c.raft('s1').status().role, 'leader');
  assert.equal(c.raft('s3').termAt(2), 2, 's3 now holds index 2 of term 2');
  assert.equal(c.raft('s1').status().commit, 1, 'index 2 is on a majority but not committed');

  // Figure 8 (d): why. s1 crashes; s5 wins with votes from s2, s3 and s4 (its last term, 3,
  // beats their 2) and overwrites index 2 everywhere.
  c.crash('s1');
  c.rewrite = null;
  c.heal();
  c.campaign('s5');
  c.stabilize();
  assert.equal(c.raft('s5').status().role, 'leader');
  for (const id of ['s2', 's3', 's4']) assert.equal(c.raft(id).termAt(2), 3, id);
});

test('5.4.2 (Figure 8 e): committing an own-term entry commits the older entries before it', () => {
  const c = new Cluster({
    voters: ['s1', 's2', 's3', 's4', 's5'],
    seed: 10,
    settings: { preVote: false, checkQuorum: false },
    storage: {
      s1: storedLog([1, 2], { term: 3, commit: 1 }),
      s2: storedLog([1, 2], { term: 3, commit: 1 }),
      s3: storedLog([1], { term: 3, commit: 1 }),
      s4: storedLog([1], { term: 3, commit: 1 }),
      s5: storedLog([1, 3], { term: 4, commit: 1 }),
    },
  });
  c.cut('s1', 's4');
  c.cut('s1', 's5');
  c.campaign('s1');
  c.stabilize();
  assert.equal(c.raft('s1').status().commit, 3);
  assert.deepEqual(c.node('s1').appliedData(), ['1/1', '2/2']);
  // s5 can no longer win: a majority holds a term-4 entry.
  c.crash('s1');
  c.heal();
  c.campaign('s5');
  c.stabilize();
  assert.notEqual(c.raft('s5').status().role, 'leader');
});

test('a leader keeps at most maxInflightAppends appends unanswered per follower', () => {
  const c = new Cluster({
    voters: three,
    seed: 11,
    settings: { maxInflightAppends: 2, maxEntriesPerAppend: 1 },
  });
  electA(c);
  c.recordDeliveries = true;
  // b receives everything, but its answers are lost.
  c.filter = (m) => m.from !== 'b';
  for (let i = 0; i < 10; i++) c.propose('a', `v${i}`);
  c.stabilize();
  const toB = c.delivered.filter(
    (m) => m.type === 'append' && m.to === 'b' && m.entries.length > 0,
  );
  assert.equal(toB.length, 2);
  // Once b answers again, heartbeats reopen the window and b catches up.
  c.filter = null;
  c.tickAll(12);
  assert.equal(c.raft('b').status().lastIndex, c.raft('a').status().lastIndex);
});

test('a follower that missed appends is caught up once heartbeats reach it', () => {
  const c = new Cluster({ voters: three, seed: 12 });
  electA(c);
  c.filter = (m) => !(m.type === 'append' && m.to === 'c');
  c.propose('a', 'missed');
  c.stabilize();
  assert.deepEqual(c.node('c').appliedData(), []);
  c.filter = null;
  // No new proposal: only the heartbeat answer tells the leader that c is behind.
  c.tickAll(2);
  assert.deepEqual(c.node('c').appliedData(), ['missed']);
});

test('a leader refuses proposals when too many entries wait uncommitted', () => {
  const c = new Cluster({ voters: three, seed: 13, settings: { maxUncommittedEntries: 3 } });
  electA(c);
  c.isolate('a');
  assert.ok(c.propose('a', '1').ok);
  assert.ok(c.propose('a', '2').ok);
  assert.ok(c.propose('a', '3').ok);
  assert.deepEqual(c.propose('a', '4'), { ok: false, reason: 'overloaded' });
});
