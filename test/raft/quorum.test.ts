/**
 * Majority arithmetic, each fast function checked against the slow obvious definition
 * (etcd's quorum/quick_test.go), with fast-check.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hasMajority, majorityIndex, voteOutcome } from '../../src/raft/quorum.js';

const votersWithMatches = fc
  .uniqueArray(fc.constantFrom<string>('a', 'b', 'c', 'd', 'e', 'f', 'g'), {
    minLength: 1,
    maxLength: 7,
  })
  .chain((voters) =>
    fc.tuple(
      fc.constant(voters),
      fc.array(fc.nat(20), { minLength: voters.length, maxLength: voters.length }),
    ),
  );

test('the commit index is the largest index that more than half of the voters hold', () => {
  fc.assert(
    fc.property(votersWithMatches, ([voters, matches]) => {
      const matchOf = (id: string): number => matches[voters.indexOf(id)] ?? 0;
      let slow = 0;
      for (let n = 0; n <= 20; n++) {
        const holders = voters.filter((v) => matchOf(v) >= n).length;
        if (holders * 2 > voters.length) slow = n;
      }
      assert.equal(majorityIndex(voters, matchOf), slow);
    }),
  );
});

test('an election is won exactly when more than half of the voters granted, lost when that became impossible', () => {
  const ballots = fc
    .uniqueArray(fc.constantFrom<string>('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 5 })
    .chain((voters) =>
      fc.tuple(
        fc.constant(voters),
        fc.array(fc.constantFrom<boolean | undefined>(true, false, undefined), {
          minLength: voters.length,
          maxLength: voters.length,
        }),
      ),
    );
  fc.assert(
    fc.property(ballots, ([voters, answers]) => {
      const votes = new Map<string, boolean>();
      voters.forEach((v, i) => {
        const a = answers[i];
        if (a !== undefined) votes.set(v, a);
      });
      // A vote from a non-voter (a learner, a removed node) never counts.
      votes.set('stranger', true);
      const granted = answers.filter((a) => a === true).length;
      const open = answers.filter((a) => a === undefined).length;
      const expected =
        granted * 2 > voters.length
          ? 'won'
          : (granted + open) * 2 > voters.length
            ? 'pending'
            : 'lost';
      assert.equal(voteOutcome(voters, votes), expected);
      assert.equal(
        hasMajority(voters, (id) => votes.get(id) === true),
        expected === 'won',
      );
    }),
  );
});
