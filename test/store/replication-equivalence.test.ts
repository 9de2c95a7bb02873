import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MemoryBudget,
  type Command,
  type IdempotencyId,
  type PatchOp,
} from '../../src/store/index.js';
import { dump, dumpRemembered, enc, newStore, t0 } from './helpers.js';

/**
 * The property replication rests on: a backup that applies a primary's mutations, in order,
 * holds what the primary holds, whatever the primary executed and whatever its clock said.
 * The mutations go through structuredClone, as they would through the wire.
 */

type Step =
  | {
      readonly kind: 'execute';
      readonly command: Command;
      readonly now: number;
      readonly id: IdempotencyId | null;
    }
  | { readonly kind: 'reclaim'; readonly now: number; readonly max: number };

const keyArb = fc.constantFrom('a', 'b', 'c');
const docs = [{}, { n: 1 }, { n: 2, tags: ['x'] }, [1, 2], 'text', 7].map(enc);
const valueArb = fc.constantFrom(...docs);
const ttlArb = fc.integer({ min: 1, max: 3_000 });
const versionArb = fc.integer({ min: 0, max: 12 });
const pathArb = fc.constantFrom('n', 'tags', 'deep.n', '__proto__', 'n.x');
const patchOpArb: fc.Arbitrary<PatchOp> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    path: pathArb,
    value: fc.constantFrom(1, 'v', { z: 1 }),
  }),
  fc.record({ op: fc.constant('unset' as const), path: pathArb }),
  fc.record({
    op: fc.constant('incr' as const),
    path: pathArb,
    by: fc.integer({ min: -2, max: 2 }),
  }),
  fc.record({
    op: fc.constant('add' as const),
    path: pathArb,
    values: fc.array(fc.constantFrom('x', 'y'), { maxLength: 2 }),
  }),
  fc.record({
    op: fc.constant('remove' as const),
    path: pathArb,
    values: fc.array(fc.constantFrom('x', 'y'), { maxLength: 2 }),
  }),
);

const optional = { requiredKeys: ['op', 'key'] as ('op' | 'key')[] };
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant('get' as const), key: keyArb }),
  fc.record({ op: fc.constant('ttl' as const), key: keyArb }),
  fc.record(
    {
      op: fc.constant('set' as const),
      key: keyArb,
      value: valueArb,
      ttlMs: ttlArb,
      keepTtl: fc.boolean(),
      ifVersion: versionArb,
      ifAbsent: fc.boolean(),
    },
    { requiredKeys: ['op', 'key', 'value'] },
  ),
  fc.record({ op: fc.constant('delete' as const), key: keyArb, ifVersion: versionArb }, optional),
  fc.record({ op: fc.constant('touch' as const), key: keyArb, ttlMs: ttlArb }),
  fc.record(
    {
      op: fc.constant('cas' as const),
      key: keyArb,
      expected: valueArb,
      value: valueArb,
      ttlMs: ttlArb,
    },
    { requiredKeys: ['op', 'key', 'expected', 'value'] },
  ),
  fc.record(
    {
      op: fc.constant('patch' as const),
      key: keyArb,
      ops: fc.array(patchOpArb, { maxLength: 3 }),
      ttlMs: ttlArb,
      ifVersion: versionArb,
      create: fc.boolean(),
      returnValue: fc.boolean(),
    },
    { requiredKeys: ['op', 'key', 'ops'] },
  ),
);

const idArb = fc.option(
  fc.record({ clientId: fc.constantFrom('c1', 'c2', 'c3'), seq: fc.integer({ min: 0, max: 12 }) }),
  { nil: null },
);
const nowArb = fc.integer({ min: t0, max: t0 + 8_000 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('execute' as const),
      command: commandArb,
      now: nowArb,
      id: idArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('reclaim' as const),
      now: nowArb,
      max: fc.integer({ min: 0, max: 3 }),
    }),
  },
);

test('a backup applying the primary mutations in order holds exactly what the primary holds', () => {
  fc.assert(
    fc.property(
      fc.array(stepArb, { maxLength: 120 }),
      fc.option(fc.integer({ min: 1_000, max: 3_000 }), { nil: Infinity }),
      (steps, limitBytes) => {
        const options = { idempotencyResultsPerClientMax: 3, idempotencyClientIdleMs: 2_000 };
        const primary = newStore({ ...options, budget: new MemoryBudget(limitBytes) });
        const backup = newStore({ ...options, budget: new MemoryBudget() });
        for (const step of steps) {
          const mutations =
            step.kind === 'execute'
              ? primary.execute(step.command, step.now, step.id ?? undefined).mutations
              : primary.reclaimExpired(step.now, step.max);
          backup.apply(structuredClone(mutations));
          assert.deepEqual(dump(backup), dump(primary));
          assert.equal(backup.lastSeq, primary.lastSeq);
          assert.equal(backup.bytes, primary.bytes);
          assert.equal(backup.expiryHeapSize <= 2 * backup.size + 1_025, true);
          assert.deepEqual(dumpRemembered(backup), dumpRemembered(primary));
        }
        backup.apply(primary.reclaimExpired(Number.MAX_SAFE_INTEGER, 1_000));
        assert.deepEqual(dump(backup), dump(primary));
      },
    ),
    { numRuns: 300 },
  );
});

test('a backup promoted to primary answers commands as the old primary would have', () => {
  fc.assert(
    fc.property(
      fc.array(stepArb, { maxLength: 60 }),
      fc.array(stepArb, { maxLength: 20 }),
      (before, after) => {
        const primary = newStore({ idempotencyResultsPerClientMax: 3 });
        const backup = newStore({ idempotencyResultsPerClientMax: 3 });
        for (const step of before) {
          backup.apply(
            structuredClone(
              step.kind === 'execute'
                ? primary.execute(step.command, step.now, step.id ?? undefined).mutations
                : primary.reclaimExpired(step.now, step.max),
            ),
          );
        }
        for (const step of after) {
          if (step.kind === 'execute') {
            const a = primary.execute(step.command, step.now, step.id ?? undefined);
            const b = backup.execute(step.command, step.now, step.id ?? undefined);
            assert.deepEqual(structuredClone(b), structuredClone(a));
          } else {
            assert.deepEqual(
              backup.reclaimExpired(step.now, step.max),
              primary.reclaimExpired(step.now, step.max),
            );
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});
