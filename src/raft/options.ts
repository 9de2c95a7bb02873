/**
 * The settings of one Raft node, their defaults, units and trade-offs, and their eager
 * validation. Time is counted in ticks: the runtime decides how long a tick is (the control
 * plane ticks every 100 ms, so the defaults mean a heartbeat every 100 ms and an election
 * after 1 to 2 s of silence).
 */
import { assert } from '../core/assert.js';
import type { Random } from '../core/random.js';
import { makeMembership, membershipProblem } from './membership.js';
import type { Membership, NodeId, PersistedState } from './types.js';

/**
 * Silence, in ticks, after which a follower campaigns; each node draws its timeout from
 * [electionTimeoutTicks, 2 * electionTimeoutTicks) so that one usually wakes up first.
 * It must be much longer than a heartbeat round trip or leaders are deposed for nothing;
 * ten heartbeats is etcd's choice and ours.
 */
export const electionTimeoutTicksDefault = 10;

/** Ticks between heartbeats. One: the cheapest failure detection a tick can buy. */
export const heartbeatIntervalTicksDefault = 1;

/**
 * Entries per append message. Control-plane entries are a few hundred bytes, so 64 keeps a
 * message well under 64 KiB while catching up a follower in few round trips.
 */
export const maxEntriesPerAppendDefault = 64;

/**
 * Unanswered appends per follower in replicate state (etcd's MaxInflightMsgs default). With
 * 64 entries each that is 16 384 entries in flight, far more than the control plane needs.
 */
export const maxInflightAppendsDefault = 256;

/**
 * Entries a leader holds appended but not committed before it refuses proposals. A leader
 * that cannot commit has lost its followers; piling up entries only makes recovery slower.
 */
export const maxUncommittedEntriesDefault = 10_000;

/** Reads waiting for a leadership confirmation; a client rarely has more in flight. */
export const maxPendingReadsDefault = 4_096;

export interface RaftOptions<T> {
  /** This node's id; unique in the cluster and never reused for another node. */
  readonly id: NodeId;
  /**
   * The membership the cluster was created with, identical on every founding node. A node
   * that joins later passes none (empty lists): it learns the membership from the leader.
   * Ignored when `restore` holds a snapshot, whose membership rules instead.
   */
  readonly voters?: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  /** The state a previous incarnation persisted through Readies; absent on first start. */
  readonly restore?: PersistedState<T>;
  /**
   * The last index the application had applied before a restart (its state already
   * includes it). Defaults to the snapshot's index: entries after it are delivered again.
   */
  readonly applied?: number;
  /** Source of the election timeout jitter. */
  readonly random: Random;
  /** Default 10; see electionTimeoutTicksDefault. Must exceed heartbeatIntervalTicks. */
  readonly electionTimeoutTicks?: number;
  /** Default 1; see heartbeatIntervalTicksDefault. */
  readonly heartbeatIntervalTicks?: number;
  /**
   * Default true. Ask "would you vote for me?" before raising the term (thesis 9.6), so a
   * node that was cut off cannot depose a healthy leader when it comes back. Costs one
   * extra round trip per election.
   */
  readonly preVote?: boolean;
  /**
   * Default true. A leader that has not heard from a majority within an election timeout
   * steps down (thesis 6.2), and followers that heard from a leader within one ignore vote
   * requests (thesis 4.2.3). Costs nothing in a healthy cluster; without it, a partitioned
   * leader keeps believing it leads, and a removed server can disrupt the cluster.
   */
  readonly checkQuorum?: boolean;
  /** Default 64; see maxEntriesPerAppendDefault. */
  readonly maxEntriesPerAppend?: number;
  /** Default 256; see maxInflightAppendsDefault. */
  readonly maxInflightAppends?: number;
  /** Default 10 000; see maxUncommittedEntriesDefault. */
  readonly maxUncommittedEntries?: number;
  /** Default 4 096; see maxPendingReadsDefault. */
  readonly maxPendingReads?: number;
}

export interface ResolvedOptions {
  readonly id: NodeId;
  readonly initialMembership: Membership;
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxEntriesPerAppend: number;
  readonly maxInflightAppends: number;
  readonly maxUncommittedEntries: number;
  readonly maxPendingReads: number;
}

function positiveInteger(name: string, value: number): number {
  assert(
    Number.isInteger(value) && value > 0,
    () => `${name} must be a positive integer, got ${String(value)}`,
  );
  return value;
}

export function resolveOptions<T>(options: RaftOptions<T>): ResolvedOptions {
  assert(typeof options.id === 'string' && options.id.length > 0, 'id must be a non-empty string');
  const initialMembership = makeMembership(options.voters ?? [], options.learners ?? []);
  const problem = membershipProblem(initialMembership);
  assert(problem === null, () => `voters/learners are not a membership: ${problem ?? ''}`);
  const electionTimeoutTicks = positiveInteger(
    'electionTimeoutTicks',
    options.electionTimeoutTicks ?? electionTimeoutTicksDefault,
  );
  const heartbeatIntervalTicks = positiveInteger(
    'heartbeatIntervalTicks',
    options.heartbeatIntervalTicks ?? heartbeatIntervalTicksDefault,
  );
  assert(
    electionTimeoutTicks > heartbeatIntervalTicks,
    () =>
      `electionTimeoutTicks (${electionTimeoutTicks}) must exceed heartbeatIntervalTicks ` +
      `(${heartbeatIntervalTicks}), or followers campaign between heartbeats; ` +
      'make it about 10 times larger',
  );
  return {
    id: options.id,
    initialMembership,
    electionTimeoutTicks,
    heartbeatIntervalTicks,
    preVote: options.preVote ?? true,
    checkQuorum: options.checkQuorum ?? true,
    maxEntriesPerAppend: positiveInteger(
      'maxEntriesPerAppend',
      options.maxEntriesPerAppend ?? maxEntriesPerAppendDefault,
    ),
    maxInflightAppends: positiveInteger(
      'maxInflightAppends',
      options.maxInflightAppends ?? maxInflightAppendsDefault,
    ),
    maxUncommittedEntries: positiveInteger(
      'maxUncommittedEntries',
      options.maxUncommittedEntries ?? maxUncommittedEntriesDefault,
    ),
    maxPendingReads: positiveInteger(
      'maxPendingReads',
      options.maxPendingReads ?? maxPendingReadsDefault,
    ),
  };
}
