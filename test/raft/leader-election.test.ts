/**
 * Leader election: Raft paper sections 5.1, 5.2 and 5.4.1; thesis sections 4.2.3 (disruptive
 * servers and the election lease), 6.2 (check-quorum) and 9.6 (pre-vote).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { storedLog } from './support/fixtures.js';

const three = ['a', 'b', 'c'];

function agreeOnLeader(c: Cluster): { leader: string; term: number } {
  const leaders = c.leaders();
  assert.equal(leaders.length, 1, `leaders: ${leaders.join(', ')}`);
  const leader = leaders[0] ?? '';
  const term = c.raft(leader).status().term;
  for (const node of c.nodes.values()) {
    const s = node.r.status();
    assert.equal(s.leader, leader, `${s.id} follows ${String(s.leader)}`);
    assert.equal(s.term, term, `${s.id} is in term ${s.term}`);
  }
  return { leader, term };
}

test('5.2: a 3-node cluster elects exactly one leader that every node follows', () => {
  const c = new Cluster({ voters: three, seed: 1 });
  c.electLeader();
  c.tickAll(2);
  agreeOnLeader(c);
});

test('5.2: a 5-node cluster elects exactly one leader that every node follows', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c', 'd', 'e'], seed: 2 });
  c.electLeader();
  c.tickAll(2);
  agreeOnLeader(c);
});

test('5.2: a follower campaigns after an election timeout drawn from [T, 2T) ticks', () => {
  const waits = new Set<number>();
  for (let seed = 1; seed <= 30; seed++) {
    const c = new Cluster({ voters: three, seed });
    c.isolate('a');
    let ticks = 0;
    while (c.raft('a').status().role === 'follower') {
      c.tick('a');
      ticks++;
    }
    assert.ok(ticks >= 10 && ticks < 20, `campaigned after ${ticks} ticks`);
    waits.add(ticks);
  }
  assert.ok(waits.size > 3, 'timeouts are randomized');
});

test('5.2: a voter grants at most one vote per term, first come first served', () => {
  const c = new Cluster({ voters: three, seed: 3, settings: { preVote: false } });
  const voter = c.raft('c');
  voter.step({
    type: 'vote',
    from: 'a',
    to: 'c',
    term: 1,
    lastIndex: 0,
    lastTerm: 0,
    transfer: false,
  });
  voter.step({
    type: 'vote',
    from: 'b',
    to: 'c',
    term: 1,
    lastIndex: 0,
    lastTerm: 0,
    transfer: false,
  });
  c.handleReady(c.node('c'));
  const answers = c.inFlight.filter((m) => m.type === 'voteResp');
  assert.deepEqual(
    answers.map((m) => [m.to, m.type === 'voteResp' && m.reject]),
    [
      ['a', false],
      ['b', true],
    ],
  );
  assert.equal(c.node('c').stored.hardState.vote, 'a');
});

test('5.2: split votes resolve: a later term elects a single leader', () => {
  const c = new Cluster({ voters: ['a', 'b', 'c', 'd'], seed: 4, settings: { preVote: false } });
  c.partition(['a', 'c'], ['b', 'd']);
  c.campaign('a');
  c.campaign('b');
  c.stabilize();
  // Two votes of four each: no majority in term 1.
  assert.deepEqual(c.leaders(), []);
  assert.equal(c.raft('a').status().role, 'candidate');
  assert.equal(c.raft('b').status().role, 'candidate');
  c.heal();
  c.electLeader();
  const { term } = agreeOnLeader(c);
  assert.ok(term >= 2);
});

test('5.2: a candidate that hears from a leader of its own term becomes its follower', () => {
  const c = new Cluster({ voters: three, seed: 5, settings: { preVote: false } });
  c.isolate('c');
  c.campaign('c');
  c.campaign('a');
  c.stabilize();
  assert.equal(c.raft('a').status().role, 'leader');
  assert.equal(c.raft('c').status().role, 'candidate');
  assert.equal(c.raft('c').status().term, 1);
  c.heal();
  c.tickAll(1);
  assert.equal(c.raft('c').status().role, 'follower');
  assert.equal(c.raft('c').status().leader, 'a');
});

test('5.4.1: a candidate whose log is shorter than a majority cannot win', () => {
  const c = new Cluster({
    voters: three,
    seed: 6,
    settings: { preVote: false },
    storage: { a: storedLog([1]), b: storedLog([1, 1]), c: storedLog([1, 1]) },
  });
  c.campaign('a');
  c.stabilize();
  assert.equal(c.raft('a').status().role, 'follower', 'b and c refused, so a lost');
  assert.equal(c.raft('b').status().vote, null);
  assert.equal(c.raft('c').status().vote, null);
});

test('5.4.1: a longer log with an older last term is less up-to-date and cannot win', () => {
  const c = new Cluster({
    voters: three,
    seed: 7,
    settings: { preVote: false },
    storage: { a: storedLog([1, 1, 1]), b: storedLog([1, 2]), c: storedLog([1, 2]) },
  });
  c.campaign('a');
  c.stabilize();
  assert.notEqual(c.raft('a').status().role, 'leader');
  assert.deepEqual(c.leaders(), []);
  c.campaign('b');
  c.stabilize();
  assert.deepEqual(c.leaders(), ['b']);
});

test('9.6: with pre-vote, a stale candidate does not even raise its own term', () => {
  const c = new Cluster({
    voters: three,
    seed: 8,
    storage: { a: storedLog([1]), b: storedLog([1, 1]), c: storedLog([1, 1]) },
  });
  c.campaign('a');
  c.stabilize();
  for (const id of three) assert.equal(c.raft(id).status().term, 1, `${id} term`);
  assert.equal(c.raft('a').status().role, 'follower');
});

test('9.6: pre-vote keeps a node that rejoins after a partition from disrupting the leader', () => {
  const c = new Cluster({ voters: three, seed: 9 });
  const leader = c.electLeader();
  const follower = three.find((id) => id !== leader) ?? '';
  const { term } = agreeOnLeader(c);
  c.isolate(follower);
  c.tick(follower, 100);
  assert.equal(c.raft(follower).status().term, term, 'no term was raised while cut off');
  c.heal();
  c.tickAll(30);
  assert.deepEqual(agreeOnLeader(c), { leader, term });
});

test('9.6: without pre-vote or check-quorum, the same rejoining node deposes the leader', () => {
  const c = new Cluster({
    voters: three,
    seed: 9,
    settings: { preVote: false, checkQuorum: false },
  });
  const leader = c.electLeader();
  const follower = three.find((id) => id !== leader) ?? '';
  const { term } = agreeOnLeader(c);
  c.isolate(follower);
  c.tick(follower, 100);
  assert.ok(c.raft(follower).status().term > term);
  c.heal();
  c.tickAll(30);
  assert.ok(c.raft(leader).status().term > term, 'the healthy leader lost its term');
});

test('6.2: check-quorum makes a leader cut off from the majority step down within two election timeouts', () => {
  const c = new Cluster({ voters: three, seed: 10 });
  const leader = c.electLeader();
  c.isolate(leader);
  // The check runs once per election timeout over who answered since the last one, so
  // answers from just before the cut may carry the leader through the first check.
  c.tick(leader, 20);
  assert.equal(c.raft(leader).status().role, 'follower');
  assert.equal(c.raft(leader).status().leader, null);
});

test('6.2: without check-quorum an isolated leader keeps believing it leads', () => {
  const c = new Cluster({ voters: three, seed: 10, settings: { checkQuorum: false } });
  const leader = c.electLeader();
  c.isolate(leader);
  c.tick(leader, 50);
  assert.equal(c.raft(leader).status().role, 'leader');
});

test('4.2.3: a follower that heard from its leader within the election timeout ignores vote requests', () => {
  const c = new Cluster({ voters: three, seed: 11, settings: { preVote: false } });
  const leader = c.electLeader();
  const [x, y] = three.filter((id) => id !== leader);
  const voter = x ?? '';
  const { term } = agreeOnLeader(c);
  c.raft(voter).step({
    type: 'vote',
    from: y ?? '',
    to: voter,
    term: term + 1,
    lastIndex: 100,
    lastTerm: term,
    transfer: false,
  });
  c.handleReady(c.node(voter));
  assert.equal(c.raft(voter).status().term, term);
  assert.equal(c.raft(voter).status().leader, leader);
  assert.deepEqual(
    c.inFlight.filter((m) => m.type === 'voteResp'),
    [],
  );
});

test('5.1: a leader that learns of a newer term steps down and follows', () => {
  const c = new Cluster({ voters: three, seed: 12, settings: { checkQuorum: false } });
  const old = c.electLeader();
  c.isolate(old);
  const rest = three.filter((id) => id !== old);
  c.campaign(rest[0] ?? '');
  c.stabilize();
  const fresh = c.leaders().find((id) => id !== old) ?? '';
  assert.ok(fresh !== '');
  assert.equal(c.raft(old).status().role, 'leader', 'the old leader has not heard yet');
  c.heal();
  c.tickAll(2);
  assert.equal(c.raft(old).status().role, 'follower');
  assert.equal(c.raft(old).status().leader, fresh);
});

test('learners never campaign, however long they hear nothing', () => {
  const c = new Cluster({ voters: ['a', 'b'], learners: ['c'], seed: 13 });
  c.isolate('c');
  c.tick('c', 200);
  assert.equal(c.raft('c').status().role, 'follower');
  assert.equal(c.raft('c').status().term, 0);
  assert.deepEqual(
    c.inFlight.filter((m) => m.from === 'c'),
    [],
  );
});

test('a single voter elects itself at once', () => {
  const c = new Cluster({ voters: ['a'], seed: 14 });
  c.campaign('a');
  assert.equal(c.raft('a').status().role, 'leader');
});

// Forgetting a dead leader: the runtime tells a follower that its leader's process is gone.

function roundsToNewLeader(c: Cluster, dead: string): number {
  let rounds = 0;
  while (c.leaders().filter((l) => l !== dead).length === 0) {
    c.tickAll();
    rounds++;
    assert.ok(rounds < 100, 'no new leader after 100 rounds');
  }
  return rounds;
}

test('a crashed leader is replaced within one election timeout when its followers forget it', () => {
  const rounds: number[] = [];
  for (let seed = 1; seed <= 40; seed++) {
    const c = new Cluster({ voters: three, seed });
    const leader = c.electLeader();
    c.tickAll(3);
    c.crash(leader);
    for (const id of three) if (id !== leader) c.raft(id).forgetLeader(leader);
    rounds.push(roundsToNewLeader(c, leader));
  }
  // The random part of the timeout is below 10 ticks. Two followers that draw the same tick
  // split the vote (about one time in ten) and wait a whole timeout more, as without forgetting.
  const quick = rounds.filter((r) => r <= 10).length;
  assert.ok(quick >= 32, `within one timeout in ${quick} of 40: ${rounds.join(' ')}`);
});

test('a crashed leader that nobody forgets is replaced only after a full election timeout', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const c = new Cluster({ voters: three, seed });
    const leader = c.electLeader();
    c.tickAll(3);
    c.crash(leader);
    assert.ok(roundsToNewLeader(c, leader) >= 10, `seed ${seed}`);
  }
});

function preVoteFrom(c: Cluster, from: string, to: string): boolean | null {
  c.dropAll();
  const term = c.raft(to).status().term;
  c.raft(to).step({ type: 'preVote', from, to, term: term + 1, lastIndex: 100, lastTerm: term });
  c.handleReady(c.node(to));
  const answer = c.inFlight.find((m) => m.type === 'preVoteResp' && m.to === from);
  return answer === undefined ? null : answer.type === 'preVoteResp' && !answer.reject;
}

test('a follower that forgot its leader grants the pre-vote it ignored while following', () => {
  const c = new Cluster({ voters: three, seed: 12 });
  const leader = c.electLeader();
  c.tickAll(3);
  const [follower = '', candidate = ''] = three.filter((id) => id !== leader);
  assert.equal(preVoteFrom(c, candidate, follower), null, 'ignored inside the leader lease');
  c.raft(follower).forgetLeader(leader);
  assert.equal(c.raft(follower).status().leader, null);
  assert.equal(preVoteFrom(c, candidate, follower), true);
});

test('forgetting a node that is not the leader followed changes nothing', () => {
  const c = new Cluster({ voters: three, seed: 13 });
  const leader = c.electLeader();
  c.tickAll(3);
  const [follower = '', candidate = ''] = three.filter((id) => id !== leader);
  c.raft(follower).forgetLeader(candidate);
  assert.equal(c.raft(follower).status().leader, leader);
  assert.equal(preVoteFrom(c, candidate, follower), null);
});

test('a live leader wins back a follower that forgot it with its next heartbeat', () => {
  const c = new Cluster({ voters: three, seed: 14 });
  const leader = c.electLeader();
  c.tickAll(3);
  const { term } = agreeOnLeader(c);
  const [follower = ''] = three.filter((id) => id !== leader);
  c.raft(follower).forgetLeader(leader);
  c.tickAll(2);
  assert.deepEqual(agreeOnLeader(c), { leader, term });
});
