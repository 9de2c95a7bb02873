/**
 * Membership changes, one server at a time: Raft thesis chapter 4 (4.1 single-server
 * changes, 4.2.1 catching up new servers as learners, 4.2.2 removing the current leader,
 * 4.2.3 disruptive servers).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import type { Entry } from '../../src/raft/index.js';

function electA(c: Cluster): void {
  c.campaign('a');
  c.stabilize();
  assert.equal(c.raft('a').status().role, 'leader');
}

test('4.1: a learner receives the log but its acknowledgements do not count toward a commit', () => {
  const c = new Cluster({ voters: ['a', 'b'], learners: ['c'], seed: 1 });
  electA(c);
  const before = c.raft('a').status().commit;
  c.partition(['a'], ['b']);
  const res = c.propose('a', 'x');
  assert.ok(res.ok);
  c.stabilize();
  assert.equal(c.raft('c').status().lastIndex, res.index, 'the learner stores the entry');
  assert.equal(c.raft('a').status().commit, before, 'but a and c are not a majority of {a, b}');
});

test('4.1: a membership takes effect on each server as soon as it is appended, before it commits', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 2 });
  electA(c);
  // b stores what a sends, but nobody's answers get back to a: nothing commits.
  c.filter = (m) => m.to !== 'a';
  const res = c.raft('a').proposeConfigChange({ type: 'addVoter', node: 'd' });
  assert.ok(res.ok);
  c.stabilize();
  for (const id of ['a', 'b']) {
    const s = c.raft(id).status();
    assert.deepEqual(s.membership.voters, ['a', 'b', 'c', 'd'], id);
    assert.ok(s.commit < res.index, `${id} has not committed it`);
  }
});

test('4.1: a second change is refused while the first is uncommitted', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 3 });
  electA(c);
  c.isolate('a');
  assert.ok(c.raft('a').proposeConfigChange({ type: 'addLearner', node: 'd' }).ok);
  assert.deepEqual(c.raft('a').proposeConfigChange({ type: 'addLearner', node: 'e' }), {
    ok: false,
    reason: 'change-in-progress',
  });
  c.heal();
  c.stabilize();
  assert.ok(c.raft('a').proposeConfigChange({ type: 'addLearner', node: 'e' }).ok);
});

test('4.1: a new leader accepts no change before it has committed an entry of its own term', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 4 });
  c.filter = (m) => m.type !== 'appendResp';
  electA(c);
  assert.deepEqual(c.raft('a').proposeConfigChange({ type: 'addLearner', node: 'd' }), {
    ok: false,
    reason: 'not-ready',
  });
  c.filter = null;
  c.tickAll(1);
  assert.ok(c.raft('a').proposeConfigChange({ type: 'addLearner', node: 'd' }).ok);
});

test('4.1: changes that make no sense are refused with the reason', () => {
  const c = new Cluster({ voters: ['a'], learners: ['l'], seed: 5 });
  electA(c);
  const cases = [
    [{ type: 'removeNode', node: 'a' }, /last voter/],
    [{ type: 'promoteLearner', node: 'a' }, /not a learner/],
    [{ type: 'addVoter', node: 'l' }, /use promoteLearner/],
    [{ type: 'addLearner', node: 'a' }, /already a member/],
    [{ type: 'removeNode', node: 'z' }, /not a member/],
  ] as const;
  for (const [change, reason] of cases) {
    const res = c.raft('a').proposeConfigChange(change);
    assert.ok(!res.ok && res.reason === 'invalid-change', JSON.stringify(change));
    assert.match(res.detail, reason);
  }
});

test('4.2.1: a new server joins as a learner and catches up from an empty log', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 6 });
  electA(c);
  for (let i = 0; i < 5; i++) c.propose('a', `v${i}`);
  c.stabilize();
  c.addNode('d');
  assert.ok(c.raft('a').proposeConfigChange({ type: 'addLearner', node: 'd' }).ok);
  c.stabilize();
  assert.deepEqual(c.node('d').appliedData(), ['v0', 'v1', 'v2', 'v3', 'v4']);
  assert.deepEqual(c.raft('d').status().membership, { voters: ['a', 'b', 'c'], learners: ['d'] });
  assert.equal(c.raft('d').status().role, 'follower');
});

test('4.2.1: a promoted learner votes and counts toward the quorum', () => {
  const c = new Cluster({ voters: ['a', 'b'], learners: ['c'], seed: 7 });
  electA(c);
  c.partition(['a', 'c'], ['b']);
  const before = c.propose('a', 'not yet');
  c.stabilize();
  assert.ok(before.ok);
  assert.ok(c.raft('a').status().commit < before.index, 'a and learner c are no majority');
  c.heal();
  c.stabilize();
  assert.ok(c.raft('a').proposeConfigChange({ type: 'promoteLearner', node: 'c' }).ok);
  c.stabilize();
  c.partition(['a', 'c'], ['b']);
  const after = c.propose('a', 'now');
  c.stabilize();
  assert.ok(after.ok);
  assert.equal(c.raft('a').status().commit, after.index, 'a and voter c are 2 of 3');
});

test('4.2.1: a learner the leader has not heard from this term is not promoted', () => {
  // Chaos seed 1873535010: a new leader on the side of a cut holding 2 of its 3 voters
  // promoted a learner on the other side. The change took effect on append, 3 of 4 voters
  // were then needed, and the only side that could have led lost its leader for the cut.
  const c = new Cluster({ voters: ['a', 'b', 'c'], learners: ['d'], seed: 11 });
  c.partition(['a', 'b'], ['c', 'd']);
  electA(c);
  const res = c.raft('a').proposeConfigChange({ type: 'promoteLearner', node: 'd' });
  assert.deepEqual(res, { ok: false, reason: 'learner-behind' });
  assert.deepEqual(c.raft('a').status().membership.voters, ['a', 'b', 'c']);
});

test('4.2.1: a learner is promoted once it answers the leader', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], learners: ['d'], seed: 12 });
  c.partition(['a', 'b'], ['c', 'd']);
  electA(c);
  c.heal();
  c.tickAll(2);
  c.stabilize();
  assert.equal(c.raft('d').status().commit, c.raft('a').status().commit);
  assert.ok(c.raft('a').proposeConfigChange({ type: 'promoteLearner', node: 'd' }).ok);
});

test('4.2: removing a voter shrinks the majority', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c', 'd'], seed: 8 });
  electA(c);
  assert.ok(c.raft('a').proposeConfigChange({ type: 'removeNode', node: 'd' }).ok);
  c.stabilize();
  c.crash('c');
  c.crash('d');
  const res = c.propose('a', 'x');
  c.stabilize();
  assert.ok(res.ok);
  assert.equal(c.raft('a').status().commit, res.index, 'a and b are 2 of {a, b, c}');
});

test('4.2.2: a leader that removes itself does not count itself toward committing the change', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 9 });
  electA(c);
  c.cut('a', 'c');
  const res = c.raft('a').proposeConfigChange({ type: 'removeNode', node: 'a' });
  assert.ok(res.ok);
  c.stabilize();
  assert.ok(c.raft('a').status().commit < res.index, 'only b of {b, c} has it');
  assert.equal(c.raft('a').status().role, 'leader', 'it leads until the change commits');
});

test('4.2.2: a removed leader steps down once the change commits and another voter takes over at once', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 10 });
  electA(c);
  const term = c.raft('a').status().term;
  assert.ok(c.raft('a').proposeConfigChange({ type: 'removeNode', node: 'a' }).ok);
  c.stabilize();
  assert.equal(c.raft('a').status().role, 'follower');
  // TimeoutNow: no election timeout passes before the next leader is elected.
  const next = c.leader();
  assert.ok(next === 'b' || next === 'c', `leader ${String(next)}`);
  assert.equal(c.raft(next).status().term, term + 1);
  const res = c.propose(next, 'after');
  c.stabilize();
  assert.ok(res.ok);
  assert.deepEqual(c.node(next === 'b' ? 'c' : 'b').appliedData(), ['after']);
  // The removed server never campaigns again.
  c.tick('a', 100);
  assert.equal(c.raft('a').status().role, 'follower');
});

test('4.2.3: a removed server that missed its removal cannot disrupt the cluster', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 11 });
  electA(c);
  c.isolate('c');
  assert.ok(c.raft('a').proposeConfigChange({ type: 'removeNode', node: 'c' }).ok);
  c.stabilize();
  c.propose('a', 'x');
  c.tickAll(30);
  const term = c.raft('a').status().term;
  c.heal();
  c.tickAll(100);
  assert.equal(c.leader(), 'a');
  assert.equal(c.raft('a').status().term, term);
  assert.equal(c.raft('b').status().term, term);
});

test('4.1: a membership change that a new leader overwrites is undone on the follower', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c'], seed: 12 });
  const change: Entry<string> = {
    index: 1,
    term: 1,
    kind: 'config',
    change: { type: 'addVoter', node: 'd' },
    membership: { voters: ['a', 'b', 'c', 'd'], learners: [] },
  };
  const b = c.raft('b');
  b.step({
    type: 'append',
    from: 'a',
    to: 'b',
    term: 1,
    prevIndex: 0,
    prevTerm: 0,
    entries: [change],
    commit: 0,
  });
  c.handleReady(c.node('b'));
  assert.deepEqual(b.status().membership.voters, ['a', 'b', 'c', 'd']);
  b.step({
    type: 'append',
    from: 'c',
    to: 'b',
    term: 2,
    prevIndex: 0,
    prevTerm: 0,
    entries: [{ index: 1, term: 2, kind: 'noop' }],
    commit: 0,
  });
  c.handleReady(c.node('b'));
  assert.deepEqual(b.status().membership.voters, ['a', 'b', 'c']);
});

test('4.2.2: a voter whose removal is appended but not committed may still be elected to finish it', () => {
  // a leads {a, b} and appends "remove a", which b never receives; a then loses leadership.
  // b cannot win without a's vote, and a's log is ahead, so only a can move the cluster on.
  const c = new Cluster({ voters: ['a', 'b'], seed: 13, settings: { checkQuorum: true } });
  electA(c);
  c.isolate('a');
  assert.ok(c.raft('a').proposeConfigChange({ type: 'removeNode', node: 'a' }).ok);
  c.tick('a', 20);
  assert.equal(c.raft('a').status().role, 'follower', 'check-quorum deposed it');
  c.dropAll();
  c.heal();
  const done = (): boolean =>
    c.leader() === 'b' && c.raft('b').status().membership.voters.length === 1;
  for (let i = 0; i < 100 && !done(); i++) c.tickAll();
  assert.ok(done(), 'b leads the membership {b}');
  assert.equal(c.raft('a').status().role, 'follower');
});
