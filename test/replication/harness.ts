/**
 * A few PartitionReplica objects and the network between them, in memory: every message a
 * replica sends waits in `queue` until the test delivers, drops, duplicates or reorders it.
 * Replies are collected by request id, so a test can ask "was this write acknowledged yet?"
 */
import assert from 'node:assert/strict';
import {
  MemoryBudget,
  type Command,
  type IdempotencyId,
  type Outcome,
} from '../../src/store/index.js';
import {
  PartitionReplica,
  type Durability,
  type Effects,
  type MemberId,
  type PartitionReplicaOptions,
  type ReplicationMessage,
} from '../../src/replication/partition-replica.js';
import { dump, dumpRemembered, t0 } from '../store/helpers.js';

export { enc, dump, dumpRemembered, t0 } from '../store/helpers.js';

export interface Envelope {
  readonly from: MemberId;
  readonly to: MemberId;
  readonly message: ReplicationMessage;
}

export interface Table {
  readonly epoch: number;
  readonly primary: MemberId | null;
  readonly inSync: readonly MemberId[];
  readonly backups: readonly MemberId[];
}

export class Cluster {
  readonly replicas = new Map<MemberId, PartitionReplica>();
  queue: Envelope[] = [];
  readonly replies = new Map<number, Outcome>();
  readonly caughtUp: { node: MemberId; epoch: number }[] = [];
  readonly lagging: MemberId[] = [];
  now = t0;
  private nextRequestId = 1;

  constructor(ids: readonly MemberId[], options: Partial<PartitionReplicaOptions> = {}) {
    for (const id of ids) {
      this.replicas.set(
        id,
        new PartitionReplica({
          self: id,
          store: { partition: 0, budget: new MemoryBudget() },
          ...options,
        }),
      );
    }
  }

  replica(id: MemberId): PartitionReplica {
    const r = this.replicas.get(id);
    assert(r !== undefined, `no replica ${id}`);
    return r;
  }

  /** Gives every listed replica the table (others are left as they are). */
  configure(table: Table, ids: readonly MemberId[] = [...this.replicas.keys()]): void {
    for (const id of ids) {
      const role =
        table.primary === id ? 'primary' : table.backups.includes(id) ? 'backup' : 'none';
      this.collect(id, this.replica(id).configure({ ...table, role }, this.now));
    }
  }

  /** Runs a command on `node`; returns its request id. */
  execute(
    node: MemberId,
    command: Command,
    durability: Durability = 'sync',
    id?: IdempotencyId,
  ): number {
    const requestId = this.nextRequestId++;
    this.collect(node, this.replica(node).execute(requestId, command, this.now, id, durability));
    return requestId;
  }

  flush(node: MemberId): void {
    this.collect(node, this.replica(node).flush());
  }

  tick(node: MemberId): void {
    this.collect(node, this.replica(node).tick(this.now));
  }

  reclaim(node: MemberId, max = 1_000): void {
    this.collect(node, this.replica(node).reclaimExpired(this.now, max));
  }

  collect(from: MemberId, effects: Effects): void {
    for (const r of effects.replies) {
      assert(!this.replies.has(r.requestId), `request ${r.requestId} answered twice`);
      this.replies.set(r.requestId, r.outcome);
    }
    for (const s of effects.send) this.queue.push({ from, to: s.to, message: s.message });
    for (const c of effects.caughtUp ?? []) this.caughtUp.push(c);
    for (const l of effects.lagging ?? []) this.lagging.push(l);
  }

  /** Delivers the message at `index` of the queue (default: the oldest). */
  deliver(index = 0): void {
    const [envelope] = this.queue.splice(index, 1);
    assert(envelope !== undefined, `no message at ${index}`);
    const target = this.replicas.get(envelope.to);
    if (target === undefined) return;
    this.collect(envelope.to, target.receive(envelope.from, envelope.message, this.now));
  }

  drop(index = 0): Envelope {
    const [envelope] = this.queue.splice(index, 1);
    assert(envelope !== undefined, `no message at ${index}`);
    return envelope;
  }

  /** Delivers until the queue is empty (bounded, so a livelock fails instead of hanging). */
  deliverAll(limit = 100_000): void {
    for (let i = 0; this.queue.length > 0; i++) {
      assert(i < limit, 'the network did not go quiet');
      this.deliver();
    }
  }

  /** Flushes every replica and delivers until quiet, ticking to resend what was lost. */
  settle(rounds = 20): void {
    for (let i = 0; i < rounds; i++) {
      for (const id of this.replicas.keys()) this.flush(id);
      this.deliverAll();
      this.now += 1_000;
      for (const id of this.replicas.keys()) this.tick(id);
      if (this.queue.length === 0) return;
    }
    this.deliverAll();
  }

  /** The queue's messages of one type, for assertions about what was sent. */
  sent(type: ReplicationMessage['type'], to?: MemberId): Envelope[] {
    return this.queue.filter((e) => e.message.type === type && (to === undefined || e.to === to));
  }

  outcome(requestId: number): Outcome | undefined {
    return this.replies.get(requestId);
  }
}

/** Asserts that two replicas hold the same entries and remembered results. */
export function assertSameState(a: PartitionReplica, b: PartitionReplica): void {
  assert.deepEqual(dump(b.store), dump(a.store));
  assert.deepEqual(dumpRemembered(b.store), dumpRemembered(a.store));
  assert.equal(b.lastSeq, a.lastSeq);
}

export function isOk(outcome: Outcome | undefined): boolean {
  return outcome !== undefined && outcome.ok;
}

export function codeOf(outcome: Outcome | undefined): string | undefined {
  return outcome === undefined || outcome.ok ? undefined : outcome.code;
}

/** The usual start: A primary, B in-sync backup, epoch 1, everyone probed and confirmed. */
export function twoNodes(options: Partial<PartitionReplicaOptions> = {}): Cluster {
  const c = new Cluster(['A', 'B'], options);
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B'], backups: ['B'] });
  c.deliverAll();
  return c;
}

export function setCmd(key: string, value: Uint8Array, ttlMs?: number): Command {
  return ttlMs === undefined ? { op: 'set', key, value } : { op: 'set', key, value, ttlMs };
}
