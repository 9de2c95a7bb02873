/**
 * The contract between RaftNode and its runtime: what a Ready holds, in which order it is
 * handled, and what a restart recovers (paper Figure 2: "updated on stable storage before
 * responding to RPCs"). Also: options are validated eagerly, and bad input is dropped.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '../../src/core/assert.js';
import { SeededRandom } from '../../src/core/random.js';
import { RaftNode, type Message } from '../../src/raft/index.js';
import { Cluster } from './support/cluster.js';
import { storedLog } from './support/fixtures.js';

function fresh(id = 'a', voters = ['a', 'b', 'c']): RaftNode<string> {
  return new RaftNode<string>({ id, voters, random: new SeededRandom(1) });
}

function leaderOfThree(): RaftNode<string> {
  const a = new RaftNode<string>({
    id: 'a',
    voters: ['a', 'b', 'c'],
    random: new SeededRandom(1),
    preVote: false,
  });
  a.campaign();
  a.step({ type: 'voteResp', from: 'b', to: 'a', term: 1, reject: false });
  assert.equal(a.status().role, 'leader');
  a.ready();
  a.advance();
  return a;
}

test('a vote answer leaves in the same Ready that persists the vote', () => {
  const b = fresh('b');
  b.step({ type: 'vote', from: 'a', to: 'b', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
  const rd = b.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: 'a', commit: 0 });
  assert.deepEqual(
    rd.messages.map((m) => m.type),
    ['voteResp'],
  );
});

test("a leader's new entry is persisted in the same Ready as the appends that carry it", () => {
  const a = leaderOfThree();
  // b acknowledges the no-op, so the leader streams to it (c is still being probed).
  a.step({
    type: 'appendResp',
    from: 'b',
    to: 'a',
    term: 1,
    reject: false,
    index: 1,
    hintIndex: 0,
    hintTerm: 0,
  });
  a.ready();
  a.advance();
  const res = a.propose('x');
  assert.ok(res.ok);
  const rd = a.ready();
  assert.deepEqual(
    rd.entriesToPersist.map((e) => e.index),
    [res.index],
  );
  const appends = rd.messages.filter((m) => m.type === 'append');
  assert.deepEqual(
    appends.map((m) => m.to),
    ['b'],
  );
  for (const m of appends) {
    assert.ok(m.type === 'append' && m.entries.some((e) => e.index === res.index));
  }
});

test('a conflicting append names the truncation point explicitly', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 1, storage: { b: storedLog([1, 1, 1]) } });
  const b = c.raft('b');
  b.step({
    type: 'append',
    from: 'a',
    to: 'b',
    term: 2,
    prevIndex: 1,
    prevTerm: 1,
    entries: [{ index: 2, term: 2, kind: 'noop' }],
    commit: 0,
  });
  const rd = b.ready();
  assert.equal(rd.truncateFrom, 2);
  assert.deepEqual(
    rd.entriesToPersist.map((e) => [e.index, e.term]),
    [[2, 2]],
  );
  b.advance();
});

test('a snapshot received from the leader is handed out to persist and to apply, replacing the whole log', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 2, storage: { b: storedLog([1, 1, 1]) } });
  const b = c.raft('b');
  const snapshot = {
    meta: { index: 10, term: 2, membership: { voters: ['a', 'b', 'c'], learners: [] } },
    data: new Uint8Array([1, 2, 3]),
  };
  b.step({ type: 'snapshot', from: 'a', to: 'b', term: 2, snapshot });
  const rd = b.ready();
  assert.equal(rd.snapshotToPersist, snapshot);
  assert.equal(rd.snapshotToApply, snapshot);
  assert.equal(rd.truncateFrom, 11, 'every stored entry goes: those after the snapshot too');
  assert.deepEqual(rd.committedEntries, []);
  assert.equal(rd.hardState?.commit, 10);
  b.advance();
  assert.equal(b.status().applied, 10);
});

test('work done while a Ready is being handled goes into the next Ready', () => {
  const a = leaderOfThree();
  const first = a.propose('first');
  const rd1 = a.ready();
  const second = a.propose('second');
  a.advance();
  assert.ok(first.ok && second.ok);
  assert.deepEqual(
    rd1.entriesToPersist.map((e) => e.index),
    [first.index],
  );
  const rd2 = a.ready();
  assert.deepEqual(
    rd2.entriesToPersist.map((e) => e.index),
    [second.index],
  );
  a.advance();
  assert.equal(a.hasReady(), false);
});

test('ready() twice without advance() is a programmer error, and so is advance() alone', () => {
  const a = fresh();
  a.campaign();
  a.ready();
  assert.throws(() => a.ready(), AssertionError);
  a.advance();
  assert.throws(() => a.advance(), AssertionError);
});

test('committed entries are handed out once each, in order, across Readies', () => {
  const c = new Cluster({ voters: ['a'], seed: 3 });
  c.campaign('a');
  for (let i = 0; i < 5; i++) c.propose('a', `v${i}`);
  // Cluster.handleReady throws if an index is applied twice or skipped.
  assert.deepEqual(c.node('a').appliedData(), ['v0', 'v1', 'v2', 'v3', 'v4']);
});

test('a restart recovers the term, vote and log that were persisted, and nothing that was not', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 4 });
  const b = c.raft('b');
  b.step({ type: 'vote', from: 'c', to: 'b', term: 5, lastIndex: 0, lastTerm: 0, transfer: false });
  b.step({
    type: 'append',
    from: 'c',
    to: 'b',
    term: 5,
    prevIndex: 0,
    prevTerm: 0,
    entries: [{ index: 1, term: 5, kind: 'noop' }],
    commit: 0,
  });
  c.handleReady(c.node('b'));
  // Stepped but never handed to storage: lost in the crash.
  b.step({
    type: 'append',
    from: 'c',
    to: 'b',
    term: 6,
    prevIndex: 1,
    prevTerm: 5,
    entries: [{ index: 2, term: 6, kind: 'noop' }],
    commit: 1,
  });
  c.crash('b');
  c.restart('b');
  const s = c.raft('b').status();
  assert.deepEqual([s.term, s.vote, s.lastIndex, s.commit], [5, 'c', 1, 0]);
});

test('a restarted node applies again the committed entries after its snapshot', () => {
  const c = new Cluster({ voters: ['a'], seed: 5 });
  c.campaign('a');
  c.propose('a', 'x');
  c.propose('a', 'y');
  c.crash('a');
  c.restart('a');
  assert.deepEqual(c.node('a').appliedData(), ['x', 'y']);
});

test('messages from older terms, or addressed to another node, are dropped without a trace', () => {
  const a = leaderOfThree();
  const before = a.status();
  const junk: Message<string>[] = [
    {
      type: 'appendResp',
      from: 'b',
      to: 'a',
      term: 0,
      reject: true,
      index: 9,
      hintIndex: 0,
      hintTerm: 0,
    },
    { type: 'heartbeat', from: 'b', to: 'z', term: 99, commit: 99, context: 0, granted: 0 },
    {
      type: 'appendResp',
      from: 'zz',
      to: 'a',
      term: 1,
      reject: false,
      index: 1,
      hintIndex: 0,
      hintTerm: 0,
    },
    {
      type: 'appendResp',
      from: 'b',
      to: 'a',
      term: 1,
      reject: false,
      index: 999,
      hintIndex: 0,
      hintTerm: 0,
    },
    { type: 'voteResp', from: 'b', to: 'a', term: 1, reject: true },
  ];
  for (const m of junk) a.step(m);
  assert.deepEqual(a.status(), before);
});

test('options are validated eagerly, with messages that name the option', () => {
  const random = new SeededRandom(1);
  assert.throws(
    () =>
      new RaftNode({
        id: 'a',
        voters: ['a'],
        random,
        electionTimeoutTicks: 2,
        heartbeatIntervalTicks: 2,
      }),
    /electionTimeoutTicks \(2\) must exceed heartbeatIntervalTicks/,
  );
  assert.throws(
    () => new RaftNode({ id: 'a', voters: ['a'], random, maxInflightAppends: 0 }),
    /maxInflightAppends must be a positive integer/,
  );
  assert.throws(() => new RaftNode({ id: 'a', voters: ['a', 'a'], random }), /listed twice/);
  assert.throws(() => new RaftNode({ id: '', voters: [], random }), /id must be/);
  assert.throws(
    () =>
      new RaftNode({
        id: 'a',
        random,
        restore: { hardState: { term: 1, vote: null, commit: 5 }, snapshot: null, entries: [] },
      }),
    /commit 5 is out of range/,
  );
});
