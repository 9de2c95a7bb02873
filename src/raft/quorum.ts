/**
 * Majority arithmetic over the voters of one membership. Learners are never passed in: they
 * do not count, which is the whole difference between a learner and a voter.
 */
import type { NodeId } from './types.js';

/**
 * The highest index that a majority of voters hold: sort the voters' match indexes from
 * high to low and take the one at position floor(n / 2). Every index at or below it is held
 * by at least n / 2 + 1 voters. Zero voters agree on nothing.
 */
export function majorityIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[Math.floor(voters.length / 2)] ?? 0;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Won with a majority of grants; lost once a majority can no longer be reached. */
export function voteOutcome(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteOutcome {
  const needed = Math.floor(voters.length / 2) + 1;
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= needed) return 'won';
  if (voters.length - rejected < needed) return 'lost';
  return 'pending';
}

/** True when at least a majority of voters satisfy `yes`. */
export function hasMajority(voters: readonly NodeId[], yes: (id: NodeId) => boolean): boolean {
  let count = 0;
  for (const id of voters) if (yes(id)) count++;
  return count >= Math.floor(voters.length / 2) + 1;
}
