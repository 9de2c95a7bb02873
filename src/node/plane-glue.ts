/**
 * The glue between a node's control plane and its data plane, without the sockets: which
 * table the data plane may serve, how a table is applied, and where the data plane's effects
 * go (replies, replication messages, reports to the control-plane leader).
 *
 * start-node.ts runs this with TCP and timers; the data-plane simulator
 * (test/sim/data-plane/) runs the very same code with a simulated network and clock, so what
 * the simulator checks is the wiring the real node uses, not a copy of it. Everything here
 * is synchronous and takes `now` and the state as arguments.
 */
import type { ClusterState } from '../control/index.js';
import type {
  DataPlane,
  PartitionPlacement,
  PartitionReport,
  PlaneEffects,
} from '../replication/index.js';
import type { PeerDataMessage } from '../protocol/replication-messages.js';
import type { Outcome } from '../store/index.js';
import { ErrorCode } from '../core/errors.js';

/**
 * Which partition table a node's data plane may act on.
 *
 * A node that resumed from its data dir kept its Raft state but not its entries, which
 * live in memory. The table it replays may still name it primary or in-sync backup of
 * partitions whose data it no longer has; serving them, or feeding its empty copy to their
 * backups, would lose acknowledged writes. So its data plane takes no table until it has
 * applied the leader's `lostCopies` entry for it (answered to its join as `resetIndex`),
 * and after that still masks each partition the table names it in at an epoch it held
 * before: those answer UNAVAILABLE here. (`lostCopies` moves every such partition to a new
 * epoch, so this is the safety net for a node that no seed answered.)
 */
export class TableGate {
  /** Per partition, the epoch the node held a copy in before it resumed; null for a new node. */
  private readonly resumedEpochs: Map<number, number> | null;
  private resumedEpochsRead = false;
  /**
   * The index of the leader's `lostCopies` entry for this node: undefined until the join is
   * answered, null when nobody answered (then every role from before stays masked).
   */
  resetIndex: number | null | undefined;

  constructor(
    private readonly memberId: string,
    /** Whether the node resumed persisted Raft state (a data dir) rather than starting new. */
    resumed: boolean,
  ) {
    this.resumedEpochs = resumed ? new Map() : null;
  }

  /**
   * The table to hand the data plane, or null while it must take none. `appliedIndex` is
   * read only when needed: the control plane applies its persisted log while it is being
   * constructed, before the runtime holds a reference to it.
   */
  tableToServe(state: ClusterState, appliedIndex: () => number): PartitionPlacement[] | null {
    const resumedEpochs = this.resumedEpochs;
    if (resumedEpochs === null) return [...state.table];
    const memberId = this.memberId;
    const holds = (a: PartitionPlacement | undefined): boolean =>
      a !== undefined && (a.primary === memberId || a.backups.includes(memberId));
    if (!this.resumedEpochsRead) {
      this.resumedEpochsRead = true;
      // Alone in its cluster, nobody else held a copy: there is nothing to protect.
      const alone = state.members.every((m) => m.id === memberId || m.state === 'dead');
      if (!alone) state.table.forEach((a, p) => holds(a) && resumedEpochs.set(p, a.epoch));
    }
    if (resumedEpochs.size === 0) return [...state.table];
    const resetIndex = this.resetIndex;
    if (resetIndex === undefined || (resetIndex !== null && appliedIndex() < resetIndex)) {
      return null;
    }
    return state.table.map((a, p) => {
      const before = resumedEpochs.get(p);
      if (before === undefined) return a;
      if (!holds(a) || a.epoch > before) {
        resumedEpochs.delete(p);
        return a;
      }
      return { epoch: a.epoch, primary: null, backups: [], inSync: [] };
    });
  }
}

/**
 * Hands the data plane the table the gate allows; null when it allows none yet. A dead
 * member serves nothing: a partition whose primary died has no primary until one is
 * promoted, or for good when no in-sync copy survived, and the nodes answer UNAVAILABLE for
 * it instead of sending clients to a dead address.
 */
export function applyServedTable(
  plane: DataPlane,
  gate: TableGate,
  state: ClusterState,
  appliedIndex: () => number,
  now: number,
): PlaneEffects | null {
  const table = gate.tableToServe(state, appliedIndex);
  if (table === null) return null;
  return plane.applyTable(
    state.tableVersion,
    table,
    (id) => {
      const member = state.member(id);
      return member === undefined || member.state === 'dead' ? undefined : member.address;
    },
    now,
  );
}

/** The control plane as the glue sees it: who leads, and where the leader's reports go. */
export interface ReportSink {
  readonly leaderId: string | null;
  report(caughtUp: readonly PartitionReport[], lagging: readonly PartitionReport[]): void;
}

/** The runtime's half of carrying out effects: a socket, or the simulator's network. */
export interface EffectSink {
  reply(requestId: number, outcome: Outcome): void;
  sendReplication(to: string, message: PeerDataMessage): void;
  sendReport(
    leader: string,
    report: { caughtUp: PartitionReport[]; lagging: PartitionReport[] },
  ): void;
}

/**
 * Carries out what the data plane decided, in its order: replies to those who asked,
 * messages to the other replicas, reports to the control-plane leader (handed over in
 * process when this node leads; dropped when no leader is known, since the replica repeats
 * a report until the table reflects it).
 */
export function deliverEffects(
  effects: PlaneEffects,
  self: string,
  control: ReportSink,
  sink: EffectSink,
): void {
  for (const { requestId, outcome } of effects.replies) sink.reply(requestId, outcome);
  for (const { to, message } of effects.send) sink.sendReplication(to, message);
  const { caughtUp, lagging } = effects.reports;
  if (caughtUp.length > 0 || lagging.length > 0) {
    const leader = control.leaderId;
    if (leader === self) control.report(caughtUp, lagging);
    else if (leader !== null) sink.sendReport(leader, { caughtUp, lagging });
  }
}

/**
 * Where a node passes on a command its client asked to have forwarded (CommandRequest.forward),
 * given what its own data plane answered: to `primary`, the partition's primary in its table,
 * when it said NOT_PRIMARY and that is another node; null when the outcome goes back to the
 * client as it is.
 *
 * A NOT_PRIMARY in doubt (a write this node applied as primary, failed by a hand-over before
 * its backups acknowledged it) goes back: forwarded, its doubt would be lost, and a client
 * whose later answers are all non-definite (UNAVAILABLE while the hand-off settles) would end
 * with TIMEOUT and `inDoubt: false` for a write that may have been applied. The client keeps
 * the flag and retries through a seed, with the same idempotency id.
 */
export function forwardTarget(
  outcome: Outcome,
  primary: string | null,
  self: string,
): string | null {
  if (outcome.ok || outcome.code !== ErrorCode.NOT_PRIMARY) return null;
  if (outcome.meta?.inDoubt === true) return null;
  if (primary === null || primary === self) return null;
  return primary;
}
