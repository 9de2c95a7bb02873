/**
 * The control plane's replicated state: who the members are and where every partition lives.
 *
 * Every node applies the same Raft log to its own ClusterState, so every node agrees, entry
 * by entry, on the members (id, address, zone, state), the partition table (for each
 * partition its epoch, primary, backups and in-sync set) and the cluster's settings. Nothing
 * here is decided locally: a node that believes a peer is dead proposes so, and acts on it
 * only once the entry is applied (DESIGN.md section 5).
 *
 * Commands are validated again when applied, not only when proposed. Two leaders of
 * successive terms can both have proposals committed, each planned against a table the other
 * has since changed; a command that no longer fits the state (a move whose node left, an
 * in-sync report for an old epoch) is skipped, the same way on every node, so the state
 * machine stays deterministic and never asserts on what the log contains.
 *
 * Member ids are unique per incarnation (`name~incarnation`). A node restarted without a
 * data dir has forgotten its Raft vote and log, so it must not come back under its old Raft
 * identity; it joins as a new incarnation of the same name, and the old one is declared
 * dead and removed. Which incarnation is the newer is known only from the order of their
 * joins (ids are random), so the state remembers the ones a later join replaced.
 */
import { decodeValue, encodeValue } from '../core/value-codec.js';
import {
  applyMove,
  initialTable,
  type MemberState,
  type PartitionAssignment,
  type PartitionTable,
  type PlacementChange,
} from './placement.js';

export interface MemberRecord {
  /** Unique per incarnation: `name~incarnation`. Raft and the partition table use this id. */
  readonly id: string;
  /** The name an operator gave the node (`--id`), stable across restarts. */
  readonly name: string;
  /** `host:port` for clients and peers. */
  readonly address: string;
  readonly zone?: string;
  readonly state: MemberState;
}

export interface ClusterSettings {
  readonly partitionCount: number;
  readonly replicationFactor: number;
}

export type ControlCommand =
  /** The first entry of a cluster's log: its id, settings, and founding member. */
  | {
      readonly type: 'bootstrap';
      readonly clusterId: string;
      readonly settings: ClusterSettings;
      readonly member: MemberRecord;
    }
  /** A node joins (or a new incarnation replaces an old one of the same name). */
  | { readonly type: 'join'; readonly member: MemberRecord }
  /** The leader's failure detector or a drain changed a member's state. */
  | { readonly type: 'setState'; readonly id: string; readonly state: MemberState }
  /** A member leaves the cluster for good. */
  | { readonly type: 'remove'; readonly id: string }
  /**
   * A member restarted and its entries, kept in memory, are gone, though the table still
   * counts its copies: they are dropped, and where it was primary an in-sync backup takes
   * over (a partition with no other in-sync copy keeps naming it, stuck, for an operator).
   */
  | { readonly type: 'lostCopies'; readonly id: string }
  /**
   * An operator accepts that a stuck partition's data is gone (`statehouse accept-loss`): it
   * starts again empty at a new epoch, led by `newPrimary`, a live member holding no copy of
   * it (so nothing stale survives), and placement gives it backups as for any partition.
   */
  | { readonly type: 'acceptLoss'; readonly partition: number; readonly newPrimary: string }
  /** Changes planned by control/placement.ts, applied in order. */
  | { readonly type: 'placement'; readonly changes: readonly PlacementChange[] }
  /**
   * A backup stopped acknowledging its primary in `epoch`: it leaves the in-sync set, so the
   * primary may acknowledge sync writes without it. Committed before the primary does so.
   * It starts a new epoch: what the primary knew of the backup in the old one (that it
   * reported it caught up, so it must wait for it: PartitionReplica.leasePeers) ends with
   * it, and a late caught-up report of the old epoch cannot put the backup back.
   */
  | {
      readonly type: 'outOfSync';
      readonly partition: number;
      readonly node: string;
      readonly epoch: number;
    }
  /** A backup has caught up with its primary in `epoch` of the partition. */
  | {
      readonly type: 'inSync';
      readonly partition: number;
      readonly node: string;
      readonly epoch: number;
    };

/** Why a change cannot apply to the table as it is now, or null. */
export function changeProblem(table: PartitionTable, change: PlacementChange): string | null {
  const a = table[change.partition];
  if (a === undefined) return `no partition ${change.partition}`;
  const holds = (n: string): boolean => a.primary === n || a.backups.includes(n);
  switch (change.kind) {
    case 'promote':
      return a.backups.includes(change.newPrimary) && a.inSync.includes(change.newPrimary)
        ? null
        : `${change.newPrimary} is not an in-sync backup of partition ${change.partition}`;
    case 'addBackup':
      return holds(change.node)
        ? `${change.node} already holds partition ${change.partition}`
        : null;
    case 'removeReplica':
      return a.backups.includes(change.node)
        ? null
        : `${change.node} holds no backup of partition ${change.partition}`;
    case 'transferPrimary':
      return a.primary !== null && a.backups.includes(change.to) && a.inSync.includes(change.to)
        ? null
        : `${change.to} cannot take over partition ${change.partition}`;
  }
}

export interface ApplyResult {
  /** False when the command no longer fitted the state and changed nothing. */
  readonly applied: boolean;
  readonly reason?: string;
}

interface Snapshot {
  readonly clusterId: string | null;
  readonly settings: ClusterSettings | null;
  readonly members: readonly MemberRecord[];
  readonly table: PartitionTable;
  readonly tableVersion: number;
  /** Absent in snapshots taken before it was kept. */
  readonly replaced?: readonly string[];
}

export class ClusterState {
  private clusterIdValue: string | null = null;
  private settingsValue: ClusterSettings | null = null;
  private readonly memberMap = new Map<string, MemberRecord>();
  private tableValue: PartitionTable = [];
  /** Increases with every change to the table; clients route by it. */
  private tableVersionValue = 0;
  /** Members a later join of their name replaced: their process is gone for good. */
  private readonly replacedIds = new Set<string>();

  get clusterId(): string | null {
    return this.clusterIdValue;
  }

  get settings(): ClusterSettings | null {
    return this.settingsValue;
  }

  get table(): PartitionTable {
    return this.tableValue;
  }

  get tableVersion(): number {
    return this.tableVersionValue;
  }

  /** Members sorted by id. */
  get members(): readonly MemberRecord[] {
    return [...this.memberMap.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  member(id: string): MemberRecord | undefined {
    return this.memberMap.get(id);
  }

  /** The live member with this name, if any (names are unique among live members). */
  memberByName(name: string): MemberRecord | undefined {
    for (const m of this.memberMap.values()) if (m.name === name && m.state !== 'dead') return m;
    return undefined;
  }

  /**
   * Whether a later incarnation of this member's name joined: then it never comes back, even
   * while the newer one is down too. Liveness cannot tell this: the newer incarnation may be
   * declared dead (cut off, crashed) while the old one is, and when the old one then looked
   * like the name's rightful holder, the controller revived it and removed the newer one,
   * which, admitted and running, never heard from the cluster again (data-plane sim seeds 16,
   * 20, 26, 31, 39, 51).
   */
  isReplaced(id: string): boolean {
    return this.replacedIds.has(id);
  }

  assignment(partition: number): PartitionAssignment | undefined {
    return this.tableValue[partition];
  }

  apply(command: ControlCommand): ApplyResult {
    switch (command.type) {
      case 'bootstrap': {
        if (this.clusterIdValue !== null) return skipped('the cluster exists already');
        this.clusterIdValue = command.clusterId;
        this.settingsValue = command.settings;
        this.memberMap.set(command.member.id, command.member);
        this.tableValue = initialTable(
          [command.member],
          command.settings.partitionCount,
          command.settings.replicationFactor,
        );
        this.tableVersionValue++;
        return { applied: true };
      }
      case 'join': {
        if (this.clusterIdValue === null) return skipped('no cluster yet');
        const existing = this.memberMap.get(command.member.id);
        if (existing !== undefined && existing.state !== 'dead') return skipped('already a member');
        // A new incarnation of a name replaces the old ones, whose copies are gone with them.
        for (const m of this.memberMap.values()) {
          if (m.name !== command.member.name || m.id === command.member.id) continue;
          this.replacedIds.add(m.id);
          if (m.state !== 'dead') this.memberMap.set(m.id, { ...m, state: 'dead' });
        }
        this.replacedIds.delete(command.member.id);
        this.memberMap.set(command.member.id, command.member);
        return { applied: true };
      }
      case 'setState': {
        const m = this.memberMap.get(command.id);
        if (m === undefined) return skipped(`no member ${command.id}`);
        if (m.state === command.state) return skipped('no change');
        if (command.state !== 'dead' && this.replacedIds.has(m.id)) {
          return skipped('a newer incarnation replaced it');
        }
        this.memberMap.set(m.id, { ...m, state: command.state });
        return { applied: true };
      }
      case 'remove': {
        const held = this.tableValue.some(
          (a) => a.primary === command.id || a.backups.includes(command.id),
        );
        if (held) return skipped(`${command.id} still holds partitions`);
        this.replacedIds.delete(command.id);
        return this.memberMap.delete(command.id) ? { applied: true } : skipped('no such member');
      }
      case 'acceptLoss': {
        const problem = acceptLossProblem(this, command.partition, command.newPrimary);
        if (problem !== null) return skipped(problem);
        const a = this.tableValue[command.partition]!;
        const next = [...this.tableValue];
        next[command.partition] = {
          epoch: a.epoch + 1,
          primary: command.newPrimary,
          backups: [],
          inSync: [command.newPrimary],
        };
        this.tableValue = next;
        this.tableVersionValue++;
        return { applied: true };
      }
      case 'lostCopies': {
        let table = this.tableValue;
        table.forEach((a, partition) => {
          if (a.primary === command.id) {
            const heir = a.inSync.find((n) => n !== command.id && a.backups.includes(n));
            if (heir !== undefined)
              table = applyMove(table, { kind: 'promote', partition, newPrimary: heir });
            else {
              // No other copy holds what this primary acknowledged: the partition is lost.
              // Left with its primary named, it would look served to placement, which would
              // keep a backup catching up from a primary that has no data and never serves
              // (the node's table gate masks it), holding a move slot forever and starving
              // the repair of every other partition. Without a primary it is stuck, as after
              // the death of a primary with no in-sync backup, and placement leaves it be.
              const next = [...table];
              next[partition] = {
                epoch: a.epoch + 1,
                primary: null,
                backups: a.backups,
                inSync: [],
              };
              table = next;
            }
          } else if (a.backups.includes(command.id)) {
            table = applyMove(table, { kind: 'removeReplica', partition, node: command.id });
          }
        });
        if (table === this.tableValue) return skipped('it held no copy');
        this.tableValue = table;
        this.tableVersionValue++;
        return { applied: true };
      }
      case 'placement': {
        let table = this.tableValue;
        let changed = 0;
        for (const change of command.changes) {
          if (changeProblem(table, change) !== null) continue;
          const target =
            change.kind === 'promote'
              ? change.newPrimary
              : change.kind === 'transferPrimary'
                ? change.to
                : change.node;
          // Copies and roles go only to members; removing a replica is always allowed.
          if (change.kind !== 'removeReplica' && !this.memberMap.has(target)) continue;
          table = applyMove(table, change);
          changed++;
        }
        if (changed === 0) return skipped('no change fitted the table');
        this.tableValue = table;
        this.tableVersionValue++;
        return { applied: true };
      }
      case 'outOfSync': {
        const a = this.tableValue[command.partition];
        if (a === undefined || a.epoch !== command.epoch) return skipped('stale epoch');
        if (a.primary === command.node || !a.inSync.includes(command.node)) {
          return skipped('not an in-sync backup');
        }
        const next = [...this.tableValue];
        next[command.partition] = {
          ...a,
          epoch: a.epoch + 1,
          inSync: a.inSync.filter((n) => n !== command.node),
        };
        this.tableValue = next;
        this.tableVersionValue++;
        return { applied: true };
      }
      case 'inSync': {
        const a = this.tableValue[command.partition];
        if (a === undefined || a.epoch !== command.epoch) return skipped('stale epoch');
        if (!a.backups.includes(command.node) || a.inSync.includes(command.node)) {
          return skipped('not an out-of-sync backup');
        }
        const next = [...this.tableValue];
        next[command.partition] = {
          ...a,
          inSync: [...a.inSync, command.node].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
        };
        this.tableValue = next;
        this.tableVersionValue++;
        return { applied: true };
      }
    }
  }

  /** The whole state as bytes, for Raft snapshots. */
  snapshot(): Uint8Array {
    const s: Snapshot = {
      clusterId: this.clusterIdValue,
      settings: this.settingsValue,
      members: this.members,
      table: this.tableValue,
      tableVersion: this.tableVersionValue,
      replaced: [...this.replacedIds].sort(),
    };
    return encodeValue(s);
  }

  /** Replaces the state with a snapshot's. The bytes come from a peer's Raft snapshot. */
  restore(bytes: Uint8Array): void {
    const s = decodeValue(bytes) as Snapshot;
    this.clusterIdValue = s.clusterId;
    this.settingsValue = s.settings;
    this.memberMap.clear();
    for (const m of s.members) this.memberMap.set(m.id, m);
    this.tableValue = s.table;
    this.tableVersionValue = s.tableVersion;
    this.replacedIds.clear();
    for (const id of s.replaced ?? []) this.replacedIds.add(id);
  }
}

/**
 * The settings a node's persisted control-plane log records: from its snapshot, or else from
 * the bootstrap entry at its start; null when it records none (a node that never received its
 * cluster's log). A resumed node serves these, whatever it is started with.
 */
export function settingsInLog(
  snapshot: Uint8Array | null,
  entries: readonly { readonly kind: string; readonly data?: unknown }[],
): ClusterSettings | null {
  if (snapshot !== null) {
    const state = new ClusterState();
    state.restore(snapshot);
    if (state.settings !== null) return state.settings;
  }
  for (const entry of entries) {
    const command = entry.data as ControlCommand | undefined;
    if (entry.kind === 'normal' && command?.type === 'bootstrap') return command.settings;
  }
  return null;
}

function skipped(reason: string): ApplyResult {
  return { applied: false, reason };
}

/**
 * Whether `partition` is stuck: its primary is gone (none, dead or absent) and no live member
 * holds an in-sync copy. Only then may an operator accept its loss.
 */
export function isStuck(state: ClusterState, partition: number): boolean {
  const a = state.table[partition];
  if (a === undefined) return false;
  const live = (id: string | null): boolean => {
    if (id === null) return false;
    const m = state.member(id);
    return m !== undefined && m.state !== 'dead';
  };
  return !live(a.primary) && !a.inSync.some(live);
}

/** Why `newPrimary` cannot restart `partition` empty now, or null. */
export function acceptLossProblem(
  state: ClusterState,
  partition: number,
  newPrimary: string,
): string | null {
  const a = state.table[partition];
  if (a === undefined) return `no partition ${partition}`;
  if (!isStuck(state, partition))
    return `partition ${partition} has a live primary or in-sync copy: nothing is lost`;
  const m = state.member(newPrimary);
  if (m === undefined || m.state !== 'active') return `${newPrimary} is not an active member`;
  if (a.primary === newPrimary || a.backups.includes(newPrimary))
    return `${newPrimary} holds a stale copy of partition ${partition}`;
  return null;
}

/**
 * The member to restart a stuck partition on: an active member holding no copy of it, the
 * one leading the fewest partitions (ties by id); null when every active member holds one.
 */
export function acceptLossCandidate(state: ClusterState, partition: number): string | null {
  const a = state.table[partition];
  if (a === undefined) return null;
  const led = new Map<string, number>();
  for (const x of state.table)
    if (x.primary !== null) led.set(x.primary, (led.get(x.primary) ?? 0) + 1);
  const candidates = state.members
    .filter((m) => m.state === 'active' && m.id !== a.primary && !a.backups.includes(m.id))
    .map((m) => m.id)
    .sort((x, y) => (led.get(x) ?? 0) - (led.get(y) ?? 0) || (x < y ? -1 : x > y ? 1 : 0));
  return candidates[0] ?? null;
}
