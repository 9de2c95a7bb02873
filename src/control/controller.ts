/**
 * What the control-plane leader decides, as a pure function of what it knows.
 *
 * The leader looks at the applied cluster state, the Raft membership, when it last heard
 * from each member, and which new copies have caught up, and returns the proposals that
 * move the cluster toward health. It keeps nothing between calls: a new leader, with the
 * same applied state, decides the same things, so a leader change loses no decision. The
 * runtime proposes what comes back, waits until it is applied, and asks again.
 *
 * The rules, in the order they are considered:
 *
 * 1. Failure detection. A member not heard from for `failureTimeoutMs` is proposed dead; a
 *    dead member heard from again is proposed active, unless a newer incarnation of its name
 *    took its place. A new leader counts its election as having heard from everyone, so it
 *    does not declare the cluster dead for the silence before it led. An old incarnation
 *    that a later join of its name replaced never comes back, even while the newer one is
 *    down too, and is removed once it holds no copies. A member not yet in Raft (admitted,
 *    waiting to be added as a learner) is not silent but unasked: nobody sends it anything
 *    yet, so its silence is not counted until it is in Raft (the runtime counts it as heard
 *    when it enters, unless it is dead: entering Raft is no evidence of life).
 * 2. Raft membership follows the cluster state, one single-server change at a time: the
 *    voters are the healthy members, as many as `votersMax` allows, an odd number (an even
 *    one tolerates no more failures than the odd number below it and needs a larger quorum);
 *    healthy voters are kept, the rest are filled from healthy learners by id. A lost voter is
 *    replaced by promoting a learner first and removing the lost one after, so the group never
 *    shrinks below its size while a member is missing. Every other member is a learner: it
 *    follows the log (and so the partition table) without voting.
 *    A draining member counts as lost for the vote, but stays in Raft (following the table)
 *    until it holds no copy; then it is removed from Raft and from the cluster, after the
 *    leader, if it is the one draining, has handed leadership to another voter.
 * 3. Copies that caught up with their primary join the in-sync set.
 * 4. Placement: control/placement.ts plans failovers, repairs and rebalancing.
 */
import type { ConfigChange, Membership } from '../raft/index.js';
import type { PlantedBug } from '../core/planted-bug.js';
import { ClusterState, type ControlCommand } from './cluster-state.js';
import { planMoves, type Member } from './placement.js';

export interface ControllerOptions {
  /** A member silent this long is declared dead. */
  readonly failureTimeoutMs: number;
  /**
   * A member that refused a connection since it was last heard (ControllerInput.refused) is
   * declared dead once silent this long. Default: failureTimeoutMs (refusals change nothing).
   */
  readonly refusedSilenceMs?: number;
  /** Raft voters wanted: 1, 3 or 5. */
  readonly votersMax: number;
  /** Copies of a partition being created at once; see placement.ts. */
  readonly maxMovesInFlight?: number;
  /** Test-only (core/planted-bug.ts): a deliberate bug for the simulator to catch. */
  readonly plantedBug?: PlantedBug;
}

export interface ControllerInput {
  readonly state: ClusterState;
  readonly membership: Membership;
  /** This node: the leader. */
  readonly self: string;
  readonly now: number;
  /** When the leader last received anything from each member. */
  readonly lastHeard: ReadonlyMap<string, number>;
  /** When this node became leader. */
  readonly leaderSince: number;
  /**
   * The leader this node followed before it was elected, if any. As a follower it heard that
   * one directly, so its silence counts from the last message, not from the election: a
   * killed leader is declared dead a failure timeout after it went quiet.
   */
  readonly predecessor?: string | null;
  /**
   * Members whose address refused a connection since they were last heard: nothing listens
   * there, so the process is gone (a killed process's port refuses at once; a paused or cut
   * off one does not). See looksFailed.
   */
  readonly refused?: ReadonlySet<string>;
  /** Whether `node`'s copy of `partition` is current in `epoch` (the replication layer's word). */
  readonly caughtUp: (partition: number, node: string, epoch: number) => boolean;
  /**
   * Whether Raft would promote learner `id` now (RaftNode.keepsUp). Default: every learner.
   * Asked so that one learner Raft keeps refusing does not hold up the others, or every
   * later membership change.
   */
  readonly learnerKeepsUp?: (id: string) => boolean;
  /** In-sync backups their primaries report as no longer acknowledging. */
  readonly lagging?: readonly { partition: number; node: string; epoch: number }[];
  readonly options: ControllerOptions;
}

export interface Decision {
  readonly commands: readonly ControlCommand[];
  /** At most one: Raft changes membership one server at a time. */
  readonly configChange: ConfigChange | null;
  /** The leader is leaving (draining): hand leadership to this voter. */
  readonly transferLeadershipTo?: string;
}

function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function decide(input: ControllerInput): Decision {
  const { state, now, options } = input;
  const commands: ControlCommand[] = [];
  if (state.clusterId === null) return { commands, configChange: null };

  // 1. Failure detection.
  const inRaft = (id: string): boolean =>
    input.membership.voters.includes(id) || input.membership.learners.includes(id);
  const isAlive = (id: string): boolean =>
    id === input.self || !inRaft(id) || !looksFailed(input, id, now, options);
  // A leader that hears no majority of the voters proposes nothing. It could not commit it,
  // and what it would propose is its own deafness taken for everyone else's failure: members
  // dead, backups lagging. Yet a leader cut off one way still sends, so its proposals reach
  // the followers' logs, and the next leader's election commits them (chaos seed 269552620:
  // the deaf leader's outOfSync entries left its partitions no in-sync copy but its own, and
  // once it was declared dead they had no primary until the cut healed). Check-quorum
  // deposes such a leader within an election timeout; until then it waits.
  const { voters } = input.membership;
  if (voters.filter(isAlive).length * 2 <= voters.length) return { commands, configChange: null };
  // A dead member comes back only on evidence: a message within the failure timeout (and
  // none refused since). A new leader's grace holds off declaring members dead; it says
  // nothing about a dead one, which the leader may have last heard from just before it died.
  // The leader itself is the evidence of its own life, though it never hears itself: a
  // predecessor cut off one way can have declared it dead in entries that reached it, which
  // its own election then committed (chaos seed 269552620).
  const heardRecently = (id: string): boolean =>
    id === input.self ||
    (now - (input.lastHeard.get(id) ?? -Infinity) < options.failureTimeoutMs &&
      input.refused?.has(id) !== true);
  const liveNames = new Set(
    state.members.filter((m) => m.state !== 'dead' && isAlive(m.id)).map((m) => m.name),
  );
  for (const m of state.members) {
    if (m.state !== 'dead' && !isAlive(m.id)) {
      commands.push({ type: 'setState', id: m.id, state: 'dead' });
    } else if (m.state === 'dead' && heardRecently(m.id)) {
      if (!state.isReplaced(m.id) && !liveNames.has(m.name)) {
        commands.push({ type: 'setState', id: m.id, state: 'active' });
      }
    }
  }
  for (const m of state.members) {
    if (!state.isReplaced(m.id) && !(m.state === 'draining' && !holdsCopies(state, m.id))) {
      continue;
    }
    if (!holdsCopies(state, m.id) && !inRaft(m.id)) commands.push({ type: 'remove', id: m.id });
  }
  // Decide the rest on the state as it will be once these are applied. Failures are the
  // exception: their failover is planned now, on a copy of the state with the deaths
  // applied, and committed in the same round, because every round trip of the log here is
  // time a partition has no primary.
  if (commands.length > 0) {
    if (commands.every((c) => c.type === 'setState' && c.state === 'dead')) {
      const next = new ClusterState();
      next.restore(state.snapshot());
      for (const c of commands) next.apply(c);
      const placement = placementCommand(next, options);
      if (placement !== null) commands.push(placement);
    }
    return { commands, configChange: null };
  }

  // 2. Raft membership. A leader that drained hands over, so that the next leader removes it.
  const configChange = nextConfigChange(input, isAlive, heardRecently);
  if (configChange === null && drained(state, input.self)) {
    const successor = input.membership.voters
      .filter((id) => id !== input.self && state.member(id)?.state === 'active' && isAlive(id))
      .sort(byId)[0];
    if (successor !== undefined) {
      return { commands: [], configChange: null, transferLeadershipTo: successor };
    }
  }

  // 3. In-sync reports: lagging copies leave the in-sync set, caught-up copies join it.
  for (const report of input.lagging ?? []) {
    const a = state.table[report.partition];
    if (a === undefined || a.epoch !== report.epoch || a.primary === report.node) continue;
    // A dead member's copies are dropped by placement, in the same entry as the failover of
    // its primaries; an entry per lagging copy first would hold the failover up.
    if (state.member(report.node)?.state === 'dead') continue;
    if (!a.inSync.includes(report.node)) continue;
    commands.push({ type: 'outOfSync', ...report });
  }
  state.table.forEach((a, partition) => {
    for (const node of a.backups) {
      if (a.inSync.includes(node)) continue;
      const member = state.member(node);
      if (member === undefined || member.state === 'dead') continue;
      const plantedPromote =
        options.plantedBug === 'promoteOutOfSync' &&
        a.primary !== null &&
        state.member(a.primary)?.state === 'dead';
      if (plantedPromote || input.caughtUp(partition, node, a.epoch)) {
        commands.push({ type: 'inSync', partition, node, epoch: a.epoch });
      }
    }
  });
  if (commands.length > 0) return { commands, configChange };

  // 4. Placement.
  const placement = placementCommand(state, options);
  if (placement !== null) commands.push(placement);
  return { commands, configChange };
}

function placementCommand(state: ClusterState, options: ControllerOptions): ControlCommand | null {
  const members: Member[] = state.members.map((m) => ({
    id: m.id,
    state: m.state,
    ...(m.zone !== undefined && { zone: m.zone }),
  }));
  const plan = planMoves(state.table, members, {
    replicationFactor: state.settings!.replicationFactor,
    ...(options.maxMovesInFlight !== undefined && { maxMovesInFlight: options.maxMovesInFlight }),
  });
  return plan.changes.length > 0 ? { type: 'placement', changes: plan.changes } : null;
}

/**
 * Whether the leader should count `id` as failed: silent for the failure timeout, or gone
 * (refusing connections) and silent for `refusedSilenceMs`. The refusal shortcut is what
 * makes a killed node's failover start within a few ticks instead of a failure timeout. It
 * is safe because the failure detector never guarded the data: a new primary waits out the
 * old one's lease grants itself (replication/leases.ts). It asks for some silence all the
 * same, so that a node that answers every tick while one path to it refuses (a firewall's
 * reset, one way) is not declared dead between its messages.
 */
export function looksFailed(
  input: Pick<ControllerInput, 'lastHeard' | 'leaderSince' | 'predecessor' | 'refused'>,
  id: string,
  now: number,
  options: Pick<ControllerOptions, 'failureTimeoutMs' | 'refusedSilenceMs'>,
): boolean {
  const silence = now - heardAt(input, id);
  if (silence >= options.failureTimeoutMs) return true;
  const refusedSilenceMs = options.refusedSilenceMs ?? options.failureTimeoutMs;
  return input.refused?.has(id) === true && silence >= refusedSilenceMs;
}

/**
 * When the leader counts `id` as last heard: a new leader counts its election as having heard
 * from everyone (as a follower it heard only the leader), except the leader it followed.
 */
export function heardAt(
  input: Pick<ControllerInput, 'lastHeard' | 'leaderSince' | 'predecessor'>,
  id: string,
): number {
  const heard = input.lastHeard.get(id);
  if (id === input.predecessor && heard !== undefined) return heard;
  return Math.max(heard ?? 0, input.leaderSince);
}

function holdsCopies(state: ClusterState, id: string): boolean {
  return state.table.some((a) => a.primary === id || a.backups.includes(id));
}

/** A member that asked to leave and holds nothing any more: Raft may let it go. */
function drained(state: ClusterState, id: string): boolean {
  return state.member(id)?.state === 'draining' && !holdsCopies(state, id);
}

function nextConfigChange(
  input: ControllerInput,
  isAlive: (id: string) => boolean,
  heardRecently: (id: string) => boolean,
): ConfigChange | null {
  const { state, membership, options } = input;
  const voters = new Set(membership.voters);
  const learners = new Set(membership.learners);
  // A draining member is not healthy: it is leaving, so its vote is handed to a learner
  // first, as a lost voter's would be; it leaves Raft only once it holds nothing, because
  // until then it must keep following the table.
  const healthy = (id: string): boolean => {
    const m = state.member(id);
    return m !== undefined && m.state !== 'dead' && m.state !== 'draining' && isAlive(id);
  };
  // The voter count follows the membership, dead members included: a member that is down
  // may come back, and shrinking the group for it would only add churn. A draining one will
  // not come back.
  const members = state.members.filter(
    (m) => !state.isReplaced(m.id) && m.state !== 'draining',
  ).length;
  let target = Math.max(1, Math.min(options.votersMax, members));
  if (target % 2 === 0) target--;
  const healthyVoters = membership.voters.filter(healthy);

  // Grow first: a learner becomes a voter while healthy voters are fewer than wanted. Only
  // one this leader has heard itself: a new leader counts its election as news of everyone,
  // and a voter beyond a network cut raises the quorum without adding to it (chaos seed
  // 1873535010: the leader of 2 of 3 voters promoted a learner on the far side of a cut, then
  // needed 3 of 4 and led nothing for the cut). Nor one that Raft would refuse (learner-behind).
  if (healthyVoters.length < target) {
    const promote = membership.learners
      .filter((id) => healthy(id) && heardRecently(id) && (input.learnerKeepsUp?.(id) ?? true))
      .sort(byId)[0];
    if (promote !== undefined) return { type: 'promoteLearner', node: promote };
  }
  // Then let a lost voter go, once enough healthy voters stand without it. With no
  // replacement available it stays: it still counts toward the quorum size it set, and it
  // may come back.
  if (healthyVoters.length >= target) {
    const lost = membership.voters.find(
      (id) =>
        !healthy(id) &&
        id !== input.self &&
        (state.member(id)?.state !== 'draining' || drained(state, id)),
    );
    if (lost !== undefined) return { type: 'removeNode', node: lost };
  }
  // Then shrink back to the target. A lost voter's replacement is promoted before the lost
  // one leaves; if it comes back in between, every voter is healthy and none would go. Four
  // voters survive no more failures than three, and a cut two against two leaves no side a
  // majority (chaos seed 518492072, fault 9: nobody led, 31 partitions took no write). The
  // one that leaves follows on as a learner. Healthy voters only: a draining or lost one is
  // let go by the rule above, once it may go; and not while one is still a voter, whose
  // vote the quorum may then need (a draining leader shrank {itself, b, c} to {itself, b},
  // handed over to b, closed itself, and b could commit nothing, not even its removal).
  if (healthyVoters.length > target && healthyVoters.length === membership.voters.length) {
    const extra = healthyVoters
      .filter((id) => id !== input.self)
      .sort(byId)
      .at(-1);
    if (extra !== undefined) return { type: 'removeNode', node: extra };
  }
  const leaving = membership.learners.find((id) => drained(state, id));
  if (leaving !== undefined) return { type: 'removeNode', node: leaving };
  const missing = state.members.find(
    (m) => !voters.has(m.id) && !learners.has(m.id) && !state.isReplaced(m.id),
  );
  if (missing !== undefined) return { type: 'addLearner', node: missing.id };
  // Strangers: ids Raft has that the cluster does not, or incarnations replaced for good.
  const stranger = [...membership.voters, ...membership.learners].find(
    (id) => (state.member(id) === undefined || state.isReplaced(id)) && id !== input.self,
  );
  if (stranger !== undefined) return { type: 'removeNode', node: stranger };
  return null;
}
