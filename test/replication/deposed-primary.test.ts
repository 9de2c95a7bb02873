/**
 * The lease rules of replication/leases.ts, on two real DataPlanes and a network the test
 * delivers by hand: a paused primary wakes up, still believing it leads, and must not answer.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  DataPlane,
  type PartitionPlacement,
  type PlaneEffects,
} from '../../src/replication/index.js';
import { partitionOf } from '../../src/core/keys.js';
import type { Outcome } from '../../src/store/index.js';
import { enc } from '../store/helpers.js';

const partitions = 1;
const leaseMs = 400;

class TwoNodes {
  readonly planes = new Map<string, DataPlane>();
  readonly inbox: { to: string; from: string; message: unknown }[] = [];
  readonly replies = new Map<number, Outcome>();
  /** Nodes that neither send nor receive (SIGSTOP). */
  readonly paused = new Set<string>();
  private nextId = 1;

  constructor() {
    for (const id of ['A', 'B']) {
      this.planes.set(
        id,
        new DataPlane({
          nodeId: id,
          address: `${id}:1`,
          partitionCount: partitions,
          keyBytesMax: 1024,
          valueBytesMax: 1 << 20,
          memoryLimitBytes: Infinity,
          leaseMs,
        }),
      );
    }
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

const key = 'cart:1';
assert.equal(partitionOf(key, partitions), 0);

const epoch1: PartitionPlacement = { epoch: 1, primary: 'A', backups: ['B'], inSync: ['A', 'B'] };
const epoch2: PartitionPlacement = { epoch: 2, primary: 'B', backups: [], inSync: ['B'] };

function cluster(): { c: TwoNodes; now: number } {
  const c = new TwoNodes();
  c.table('A', 1, epoch1, 0);
  c.table('B', 1, epoch1, 0);
  let now = 0;
  for (; now <= 200; now += 50) c.step(now);
  const id = c.set('A', key, 'v1', now, 'sync');
  c.deliver(now);
  assert.deepEqual(c.replies.get(id)?.ok, true, 'the first write is acknowledged');
  return { c, now };
}

test('a primary whose copies vouched for it recently serves reads', () => {
  const { c, now } = cluster();
  assert.equal(c.get('A', key, now).ok, true);
});

test('a primary paused past its lease answers UNAVAILABLE when it wakes, before it learns of the new epoch', () => {
  const { c, now: t } = cluster();
  c.paused.add('A');
  // B is promoted (the control plane declared A dead) and takes writes A never saw.
  let now = t + 700;
  c.table('B', 2, epoch2, now);
  for (; now <= t + 1_300; now += 50) c.step(now);
  const write = c.set('B', key, 'v2', now, 'sync');
  c.deliver(now);
  assert.equal(c.replies.get(write)?.ok, true, 'the new primary serves');
  // A wakes: a request already waiting is executed before any tick or table arrives.
  c.paused.delete('A');
  const read = c.get('A', key, now);
  assert.equal(read.ok, false, `the old primary answered ${JSON.stringify(read)}`);
  assert.equal(read.ok === false && read.code, 'UNAVAILABLE');
  const async = c.set('A', key, 'stale', now, 'async');
  assert.equal(c.replies.get(async)?.ok, false, 'nor does it take an async write');
});

test('a new primary does not serve while the old one may still hold a grant from it', () => {
  const { c, now: t } = cluster();
  // A is cut off right after B echoed its last ping; B is promoted at once (a hand-off).
  c.paused.add('A');
  c.table('B', 2, epoch2, t);
  const early = c.get('B', key, t + 10);
  assert.equal(early.ok === false && early.code, 'UNAVAILABLE', 'A may still serve: wait');
  const later = c.get('B', key, t + Math.ceil(leaseMs * 1.2) + 1);
  assert.equal(later.ok, true, 'once every grant B gave has run out, B serves');
});

test('a hand-off settles as soon as the old primary says it applied the change', () => {
  const { c, now: t } = cluster();
  c.table('B', 2, { ...epoch2, backups: ['A'], inSync: ['B', 'A'] }, t);
  c.table('A', 2, { ...epoch2, backups: ['A'], inSync: ['B', 'A'] }, t);
  c.step(t + 50);
  c.step(t + 100);
  const read = c.get('B', key, t + 100);
  assert.equal(read.ok, true, `well before the grant wait: ${JSON.stringify(read)}`);
});
