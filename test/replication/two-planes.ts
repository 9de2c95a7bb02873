/**
 * Two real DataPlanes (nodes A and B; more when asked) of one partition, and a network the
 * test delivers by hand: for tests of what one node does when the other pauses, or when the
 * table changes.
 */
import {
  DataPlane,
  type PartitionPlacement,
  type PlaneEffects,
} from '../../src/replication/index.js';
import type { Outcome } from '../../src/store/index.js';
import { enc } from '../store/helpers.js';

export const partitions = 1;

/** A DataPlane for tests: node `id` at `id:1`, generous limits, no memory limit. */
export function testPlane(id: string, partitionCount: number, leaseMs?: number): DataPlane {
  return new DataPlane({
    nodeId: id,
    address: `${id}:1`,
    partitionCount,
    keyBytesMax: 1024,
    valueBytesMax: 1 << 20,
    memoryLimitBytes: Infinity,
    ...(leaseMs !== undefined && { leaseMs }),
  });
}
export const leaseMs = 400;

export class TwoNodes {
  readonly planes = new Map<string, DataPlane>();
  readonly inbox: { to: string; from: string; message: unknown }[] = [];
  readonly replies = new Map<number, Outcome>();
  /** Nodes that neither send nor receive (SIGSTOP). */
  readonly paused = new Set<string>();
  private nextId = 1;

  constructor(ids: readonly string[] = ['A', 'B']) {
    for (const id of ids) {
      this.planes.set(id, testPlane(id, partitions, leaseMs));
    }
  }

  /**
   * A and B (or `ids`) applying `placement` as table version 1, ticked until their leases settle: the
   * start of every two-plane scenario. `now` is where the scenario goes on.
   */
  static placed(
    placement: PartitionPlacement,
    ids: readonly string[] = ['A', 'B'],
  ): { c: TwoNodes; now: number } {
    const c = new TwoNodes(ids);
    for (const id of ids) c.table(id, 1, placement, 0);
    let now = 0;
    for (; now <= 200; now += 50) c.step(now);
    return { c, now };
  }

  plane(id: string): DataPlane {
    return this.planes.get(id)!;
  }

  collect(from: string, effects: PlaneEffects): void {
    for (const r of effects.replies) this.replies.set(r.requestId, r.outcome);
    for (const s of effects.send) this.inbox.push({ to: s.to, from, message: s.message });
  }

  table(id: string, version: number, placement: PartitionPlacement, now: number): void {
    this.collect(
      id,
      this.plane(id).applyTable(version, [placement], (m) => `${m}:1`, now),
    );
  }

  /** Ticks every running node and delivers until the network is quiet. */
  step(now: number): void {
    for (const [id, plane] of this.planes) {
      if (!this.paused.has(id)) this.collect(id, plane.tick(now));
    }
    this.deliver(now);
  }

  deliver(now: number): void {
    while (this.inbox.length > 0) {
      const { to, from, message } = this.inbox.shift()!;
      if (this.paused.has(to) || this.paused.has(from)) continue;
      const plane = this.plane(to);
      this.collect(to, plane.receive(from, message as never, now));
      this.collect(to, plane.flush());
    }
  }

  get(id: string, key: string, now: number): Outcome {
    const requestId = this.nextId++;
    this.collect(id, this.plane(id).execute(requestId, { op: 'get', key }, now));
    return this.replies.get(requestId)!;
  }

  set(id: string, key: string, value: unknown, now: number, durability: 'sync' | 'async'): number {
    const requestId = this.nextId++;
    this.collect(
      id,
      this.plane(id).execute(requestId, { op: 'set', key, value: enc(value) }, now, { durability }),
    );
    this.collect(id, this.plane(id).flush());
    return requestId;
  }
}
