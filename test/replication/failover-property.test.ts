/**
 * The safety claim of DESIGN.md section 4, checked against a slow obvious model: whatever
 * the network does (loss, duplication, reordering) and whenever the primary dies, the
 * in-sync backup promoted in its place holds every write that was acknowledged as a sync
 * success, and what it holds is exactly a prefix of the primary's stream (the model: a
 * second store that executed the same commands, replayed up to the new primary's lastSeq).
 * Then the faults heal, and the survivors must converge.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MemoryBudget,
  PartitionStore,
  type Command,
  type Mutation,
} from '../../src/store/index.js';
import { Cluster, assertSameState, dump, dumpRemembered, enc } from './harness.js';

type Action =
  | {
      kind: 'write';
      key: number;
      op: 'set' | 'delete' | 'touch' | 'patch';
      ttl: boolean;
      durability: 'sync' | 'async';
      idempotent: boolean;
    }
  | { kind: 'flush' }
  | { kind: 'deliver'; at: number }
  | { kind: 'drop'; at: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'reclaim' };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      key: fc.integer({ min: 0, max: 4 }),
      op: fc.constantFrom(
        'set' as const,
        'set' as const,
        'delete' as const,
        'touch' as const,
        'patch' as const,
      ),
      ttl: fc.boolean(),
      durability: fc.constantFrom('sync' as const, 'async' as const),
      idempotent: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('deliver' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      ms: fc.integer({ min: 0, max: 3_000 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reclaim' as const }) },
);

function commandFor(a: Extract<Action, { kind: 'write' }>, n: number): Command {
  const key = `session-${a.key}`;
  const ttl = a.ttl ? { ttlMs: 1_000 + (n % 5) * 1_000 } : {};
  switch (a.op) {
    case 'set':
      return { op: 'set', key, value: enc({ n }), ...ttl };
    case 'delete':
      return { op: 'delete', key };
    case 'touch':
      return { op: 'touch', key, ttlMs: 5_000 };
    case 'patch':
      return { op: 'patch', key, ops: [{ op: 'incr', path: 'hits', by: 1 }], ...ttl };
  }
}

function run(actions: readonly Action[], promoteC: boolean): void {
  const c = new Cluster(['A', 'B', 'C'], { resendMs: 500, ackTimeoutMs: 5_000 });
  let table = { epoch: 1, primary: 'A', inSync: ['A', 'B'], backups: ['B', 'C'] };
  c.configure(table);
  // The model: the same commands at the same times, in a store nobody replicates.
  const model = new PartitionStore({ partition: 0, budget: new MemoryBudget() });
  const stream: Mutation[] = [];
  const syncSeq = new Map<number, number>();
  let n = 0;
  for (const a of actions) {
    switch (a.kind) {
      case 'write': {
        const command = commandFor(a, n);
        const id = a.idempotent ? { clientId: `web-${a.key}`, seq: n } : undefined;
        n++;
        const requestId = c.execute('A', command, a.durability, id);
        const execution =
          id === undefined ? model.execute(command, c.now) : model.execute(command, c.now, id);
        stream.push(...execution.mutations);
        if (a.durability === 'sync') syncSeq.set(requestId, model.lastSeq);
        break;
      }
      case 'flush':
        c.flush('A');
        break;
      case 'deliver':
        if (c.queue.length > 0) c.deliver(a.at % c.queue.length);
        break;
      case 'drop':
        if (c.queue.length > 0) c.drop(a.at % c.queue.length);
        break;
      case 'duplicate': {
        const e = c.queue[a.at % Math.max(1, c.queue.length)];
        if (e !== undefined) c.queue.push(e);
        break;
      }
      case 'tick':
        c.now += a.ms;
        for (const id of ['A', 'B', 'C']) c.tick(id);
        break;
      case 'reclaim':
        c.reclaim('A', 3);
        stream.push(...model.reclaimExpired(c.now, 3));
        break;
    }
    // The control plane adds a caught-up backup to the in-sync set (same epoch).
    if (c.caughtUp.length > 0 && !table.inSync.includes('C')) {
      table = { ...table, inSync: ['A', 'B', 'C'] };
      c.configure(table);
    }
  }
  assert.equal(c.replica('A').lastSeq, model.lastSeq, 'the model executed what A executed');

  // The primary dies; the control plane promotes an in-sync backup.
  const next = promoteC && table.inSync.includes('C') ? 'C' : 'B';
  const other = next === 'B' ? 'C' : 'B';
  c.replicas.delete('A');
  const inSync = table.inSync.filter((m) => m !== 'A');
  table = { epoch: 2, primary: next, inSync, backups: [other] };
  c.configure(table);
  const promoted = c.replica(next);

  // Safety: every sync success is on the new primary, which holds a prefix of A's stream.
  for (const [requestId, seq] of syncSeq) {
    const outcome = c.outcome(requestId);
    if (outcome?.ok === true) {
      assert.ok(
        seq <= promoted.lastSeq,
        `request ${requestId} (seq ${seq}) was acknowledged but ${next} has only ${promoted.lastSeq}`,
      );
    }
  }
  const prefix = new PartitionStore({ partition: 0, budget: new MemoryBudget() });
  prefix.apply(stream.slice(0, promoted.lastSeq));
  assert.deepEqual(dump(promoted.store), dump(prefix));
  assert.deepEqual(dumpRemembered(promoted.store), dumpRemembered(prefix));

  // Liveness: the network heals, writes go on, and the other copy converges.
  c.execute(next, { op: 'set', key: 'after', value: enc('failover') });
  c.settle(40);
  assertSameState(promoted, c.replica(other));
}

test('no acknowledged sync write is lost across a failover, under loss, duplication and reordering', () => {
  fc.assert(
    fc.property(fc.array(action, { maxLength: 80 }), fc.boolean(), (actions, promoteC) =>
      run(actions, promoteC),
    ),
    { numRuns: 300 },
  );
});
