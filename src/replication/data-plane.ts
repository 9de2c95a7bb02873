/**
 * The data plane of one node: the partitions it holds, and how a client's request reaches
 * the right one.
 *
 * Every key belongs to one of a fixed number of partitions (core/keys.ts). The partition
 * table says which node is primary for each; a node serves a keyed request only for the
 * partitions it is primary of, and answers NOT_PRIMARY (with the partition, the table epoch
 * and the address it believes is primary) for the rest, so the client refreshes its table
 * and goes there. While a cluster has one node that node is primary of every partition, but
 * the routing, the epochs and the answers are already the cluster's.
 *
 * The data plane is pure: it takes requests and `now`, and returns replies and the
 * mutations the replication layer ships to backups. The node runtime feeds it.
 */
import { ErrorCode } from '../core/errors.js';
import { partitionOf } from '../core/keys.js';
import { assert } from '../core/assert.js';
import { MemoryBudget, PartitionStore } from '../store/index.js';
import type { Command, Execution, IdempotencyId, Mutation } from '../store/index.js';

export interface DataPlaneOptions {
  readonly nodeId: string;
  /** The address clients reach this node at, `host:port`. */
  readonly address: string;
  readonly partitionCount: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  /** The node's memory limit for entries, in bytes; Infinity for none. */
  readonly memoryLimitBytes: number;
}

/** What the data plane knows of one partition's placement. */
interface PartitionRole {
  epoch: number;
  /** The primary's member id; null while the partition has none (or the table is unknown). */
  primary: string | null;
  primaryAddress: string;
}

/** A partition's placement as the control plane's table gives it. */
export interface PartitionPlacement {
  readonly epoch: number;
  readonly primary: string | null;
}

export interface TableView {
  readonly epoch: number;
  readonly partitionCount: number;
  readonly nodes: readonly { readonly id: string; readonly address: string }[];
  readonly primaries: readonly number[];
}

const writeOps: ReadonlySet<Command['op']> = new Set(['set', 'delete', 'touch', 'cas', 'patch']);

export function isWrite(command: Command): boolean {
  return writeOps.has(command.op);
}

export class DataPlane {
  readonly nodeId: string;
  readonly address: string;
  readonly partitionCount: number;
  readonly budget: MemoryBudget;
  private readonly stores: PartitionStore[];
  private readonly roles: PartitionRole[];
  private tableEpoch = 0;
  private sweepCursor = 0;

  constructor(options: DataPlaneOptions) {
    assert(
      Number.isInteger(options.partitionCount) && options.partitionCount > 0,
      () => `partitionCount must be a positive integer, got ${options.partitionCount}`,
    );
    this.nodeId = options.nodeId;
    this.address = options.address;
    this.partitionCount = options.partitionCount;
    this.budget = new MemoryBudget(options.memoryLimitBytes);
    this.stores = [];
    this.roles = [];
    for (let p = 0; p < options.partitionCount; p++) {
      this.stores.push(
        new PartitionStore({
          partition: p,
          budget: this.budget,
          keyBytesMax: options.keyBytesMax,
          valueBytesMax: options.valueBytesMax,
        }),
      );
      // Nothing is served until the control plane's first table arrives.
      this.roles.push({ epoch: 0, primary: null, primaryAddress: '' });
    }
  }

  get epoch(): number {
    return this.tableEpoch;
  }

  /**
   * Executes a client command on the partition of its key, if this node is its primary.
   * `id` makes a write idempotent: a retry with the same id is answered, not re-applied.
   */
  execute(command: Command, now: number, id?: IdempotencyId): Execution {
    const partition = partitionOf(command.key, this.partitionCount);
    const role = this.roles[partition]!;
    if (role.primary === null) {
      return {
        outcome: {
          ok: false,
          code: ErrorCode.UNAVAILABLE,
          message: `partition ${partition} has no primary now`,
          meta: { partition, epoch: role.epoch },
        },
        mutations: [],
      };
    }
    if (role.primary !== this.nodeId) {
      return {
        outcome: {
          ok: false,
          code: ErrorCode.NOT_PRIMARY,
          message: `node ${this.nodeId} is not the primary of partition ${partition}`,
          meta: { partition, epoch: role.epoch, hint: role.primaryAddress },
        },
        mutations: [],
      };
    }
    const store = this.stores[partition]!;
    return isWrite(command) && id !== undefined
      ? store.execute(command, now, id)
      : store.execute(command, now);
  }

  /**
   * Reclaims expired entries, at most `max` per call, visiting partitions round-robin so that
   * one partition full of expired sessions cannot starve the others.
   */
  reclaimExpired(now: number, max: number): { partition: number; mutations: Mutation[] }[] {
    const out: { partition: number; mutations: Mutation[] }[] = [];
    let budget = max;
    for (let visited = 0; visited < this.partitionCount && budget > 0; visited++) {
      const p = this.sweepCursor;
      this.sweepCursor = (this.sweepCursor + 1) % this.partitionCount;
      if (this.roles[p]!.primary !== this.nodeId) continue;
      const mutations = this.stores[p]!.reclaimExpired(now, budget);
      if (mutations.length > 0) {
        out.push({ partition: p, mutations });
        budget -= mutations.length;
      }
    }
    return out;
  }

  /**
   * Installs the control plane's partition table (`version` increases with every change).
   * `addressOf` maps member ids to their client addresses.
   */
  applyTable(
    version: number,
    table: readonly PartitionPlacement[],
    addressOf: (memberId: string) => string | undefined,
  ): void {
    assert(
      table.length === this.partitionCount,
      () => `table has ${table.length} partitions, the node ${this.partitionCount}`,
    );
    if (version < this.tableEpoch) return;
    this.tableEpoch = version;
    table.forEach((placement, p) => {
      const address = placement.primary === null ? undefined : addressOf(placement.primary);
      this.roles[p] = {
        epoch: placement.epoch,
        primary: address === undefined ? null : placement.primary,
        primaryAddress: address ?? '',
      };
    });
  }

  table(): TableView {
    const addresses = new Map<string, number>();
    const nodes: { id: string; address: string }[] = [];
    const primaries: number[] = [];
    for (const role of this.roles) {
      if (role.primary === null) {
        primaries.push(-1);
        continue;
      }
      let index = addresses.get(role.primary);
      if (index === undefined) {
        index = nodes.length;
        addresses.set(role.primary, index);
        nodes.push({ id: role.primary, address: role.primaryAddress });
      }
      primaries.push(index);
    }
    return { epoch: this.tableEpoch, partitionCount: this.partitionCount, nodes, primaries };
  }

  /** Entries and bytes held, for status and metrics. */
  stats(): { entries: number; bytes: number; memoryLimitBytes: number } {
    let entries = 0;
    let bytes = 0;
    for (const store of this.stores) {
      entries += store.size;
      bytes += store.bytes;
    }
    return { entries, bytes, memoryLimitBytes: this.budget.limitBytes };
  }
}
