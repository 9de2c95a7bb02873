/**
 * Memberships and the single-server changes between them. A change is validated against the
 * membership in effect at the end of the leader's log, which is the one that counts: a
 * configuration takes effect when it is appended (thesis section 4.1), not when committed.
 */
import type { ConfigChange, Membership, NodeId } from './types.js';

export function makeMembership(voters: readonly NodeId[], learners: readonly NodeId[]): Membership {
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id);
}

export function isMember(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.learners.includes(id);
}

/** Everyone who receives the log, in a stable order. */
export function members(m: Membership): NodeId[] {
  return [...m.voters, ...m.learners];
}

/** The smallest number of voters that forms a majority. */
export function quorumSize(m: Membership): number {
  return Math.floor(m.voters.length / 2) + 1;
}

/** Why `m` cannot be a membership, or null when it can. */
export function membershipProblem(m: Membership): string | null {
  const all = members(m);
  if (new Set(all).size !== all.length) return 'a node is listed twice or as voter and learner';
  if (all.some((id) => typeof id !== 'string' || id.length === 0)) return 'a node id is empty';
  return null;
}

/** The membership after `change`, or a sentence saying why the change does not apply. */
export function applyChange(m: Membership, change: ConfigChange): Membership | string {
  const { node } = change;
  if (typeof node !== 'string' || node.length === 0) return 'the node id must be non-empty';
  const voter = m.voters.includes(node);
  const learner = m.learners.includes(node);
  switch (change.type) {
    case 'addVoter':
      if (voter) return `${node} is already a voter`;
      if (learner) return `${node} is a learner: use promoteLearner`;
      return makeMembership([...m.voters, node], m.learners);
    case 'addLearner':
      if (voter || learner) return `${node} is already a member`;
      return makeMembership(m.voters, [...m.learners, node]);
    case 'promoteLearner':
      if (!learner) return `${node} is not a learner`;
      return makeMembership(
        [...m.voters, node],
        m.learners.filter((id) => id !== node),
      );
    case 'removeNode':
      if (!voter && !learner) return `${node} is not a member`;
      // With no voter left nobody could ever commit again, not even a change to undo this.
      if (voter && m.voters.length === 1) return `${node} is the last voter`;
      return makeMembership(
        m.voters.filter((id) => id !== node),
        m.learners.filter((id) => id !== node),
      );
  }
}
