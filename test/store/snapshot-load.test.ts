import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AssertionError } from '../../src/core/assert.js';
import {
  MemoryBudget,
  PartitionStore,
  type Command,
  type IdempotencyId,
  type Mutation,
  type PartitionStoreOptions,
  type StoreSnapshot,
} from '../../src/store/index.js';
import { dump, dumpRemembered, enc, hex, newStore, t0 } from './helpers.js';

/**
 * `PartitionStore.load(snapshotState())` is the state transfer's install step: the loaded
 * store must be the original, and stay it under the same later writes, whether it executes
 * them (a backup promoted to primary) or applies the original's mutations (a backup).
 */

/** Small limits, so the property reaches forgotten results and idle clients. */
const limits = { idempotencyResultsPerClientMax: 3, idempotencyClientIdleMs: 2_000 };

function options(budget = new MemoryBudget()): PartitionStoreOptions {
  return { partition: 0, budget, ...limits };
}

/** Everything observable about a store, as plain data. */
function state(store: PartitionStore): unknown {
  return {
    entries: dump(store),
    remembered: dumpRemembered(store),
    lastSeq: store.lastSeq,
    bytes: store.bytes,
    size: store.size,
  };
}

/** The snapshot as it would arrive over the wire: no object shared with the original. */
function copyOf(store: PartitionStore): StoreSnapshot {
  return structuredClone(store.snapshotState());
}

function plainMutations(mutations: readonly Mutation[]): unknown {
  return JSON.parse(
    JSON.stringify(mutations, (_key, value: unknown) =>
      value instanceof Uint8Array ? hex(value) : value,
    ),
  );
}

test('a loaded store holds the entries, versions, expiry, remembered results, lastSeq and bytes of the original', () => {
  const source = newStore(limits);
  source.execute({ op: 'set', key: 'a', value: enc(1), ttlMs: 5_000 }, t0, {
    clientId: 'x',
    seq: 1,
  });
  source.execute({ op: 'set', key: 'b', value: enc({ n: 2 }) }, t0 + 1, { clientId: 'y', seq: 4 });
  source.execute({ op: 'set', key: 'a', value: enc(3) }, t0 + 2, {
    clientId: 'x',
    seq: 2,
    ackedBelow: 2,
  });
  source.execute({ op: 'touch', key: 'b', ttlMs: 9_000 }, t0 + 3);
  source.execute({ op: 'delete', key: 'c' }, t0 + 4);
  source.execute({ op: 'set', key: 'c', value: enc('c') }, t0 + 5);
  source.execute({ op: 'delete', key: 'c' }, t0 + 6);
  const budget = new MemoryBudget();
  const copy = PartitionStore.load(options(budget), copyOf(source));
  assert.deepEqual(state(copy), state(source));
  assert.equal(budget.usedBytes, source.bytes);
  const x = [...copy.remembered()].find((c) => c.clientId === 'x');
  assert.equal(x?.forgottenUpTo, 1, 'the forgotten mark travels');
  assert.equal(x?.lastSeenAt, t0 + 2);
});

test('a loaded store answers a retry from its remembered results and refuses a forgotten one', () => {
  const source = newStore(limits);
  source.execute({ op: 'set', key: 'a', value: enc(1) }, t0, { clientId: 'x', seq: 1 });
  const second = source.execute({ op: 'set', key: 'a', value: enc(2) }, t0, {
    clientId: 'x',
    seq: 2,
    ackedBelow: 2,
  });
  const copy = PartitionStore.load(options(), copyOf(source));
  const retry = copy.execute({ op: 'set', key: 'a', value: enc(9) }, t0 + 1, {
    clientId: 'x',
    seq: 2,
  });
  assert.deepEqual(retry.mutations, []);
  assert.deepEqual(retry.outcome, second.outcome);
  const lost = copy.execute({ op: 'set', key: 'a', value: enc(9) }, t0 + 1, {
    clientId: 'x',
    seq: 1,
  });
  assert.equal(lost.outcome.ok ? 'ok' : lost.outcome.code, 'RETRY_EXPIRED');
});

test('a loaded store reclaims expired entries as the original does', () => {
  const source = newStore(limits);
  source.execute({ op: 'set', key: 'a', value: enc(1), ttlMs: 10 }, t0);
  source.execute({ op: 'set', key: 'b', value: enc(2), ttlMs: 10 }, t0);
  source.execute({ op: 'touch', key: 'a', ttlMs: 5 }, t0);
  source.execute({ op: 'set', key: 'c', value: enc(3) }, t0);
  const copy = PartitionStore.load(options(), copyOf(source));
  assert.deepEqual(
    plainMutations(copy.reclaimExpired(t0 + 20, 10)),
    plainMutations(source.reclaimExpired(t0 + 20, 10)),
  );
  assert.deepEqual(state(copy), state(source));
});

test('an empty snapshot loads an empty store at its lastSeq', () => {
  const copy = PartitionStore.load(options(), { lastSeq: 7, entries: [], remembered: [] });
  assert.equal(copy.lastSeq, 7);
  assert.equal(copy.size, 0);
  assert.equal(copy.bytes, 0);
});

test('a snapshot that cannot come from one store is refused with an assertion', () => {
  const value = enc(1);
  const bad: StoreSnapshot[] = [
    { lastSeq: 1, entries: [['a', value, 2, 0]], remembered: [] },
    {
      lastSeq: 3,
      entries: [
        ['a', value, 1, 0],
        ['b', value, 1, 0],
      ],
      remembered: [],
    },
    {
      lastSeq: 3,
      entries: [
        ['a', value, 1, 0],
        ['a', value, 2, 0],
      ],
      remembered: [],
    },
    {
      lastSeq: 1,
      entries: [['a', value, 1, 0]],
      remembered: [{ clientId: 'x', lastSeenAt: t0, forgottenUpTo: -1, results: [[1, okSet(1)]] }],
    },
    {
      lastSeq: 5,
      entries: [],
      remembered: [
        { clientId: 'x', lastSeenAt: t0 + 1, forgottenUpTo: -1, results: [[1, okSet(1)]] },
        { clientId: 'y', lastSeenAt: t0, forgottenUpTo: -1, results: [[1, okSet(2)]] },
      ],
    },
    {
      lastSeq: 5,
      entries: [],
      remembered: [{ clientId: 'x', lastSeenAt: t0, forgottenUpTo: 3, results: [[3, okSet(1)]] }],
    },
  ];
  for (const snapshot of bad) {
    assert.throws(() => PartitionStore.load(options(), snapshot), AssertionError);
  }
});

function okSet(version: number): { ok: true; result: { op: 'set'; version: number } } {
  return { ok: true, result: { op: 'set', version } };
}

// ---- the property ------------------------------------------------------------------------

type Step =
  | { readonly kind: 'execute'; readonly command: Command; readonly id: IdempotencyId | null }
  | { readonly kind: 'reclaim'; readonly max: number }
  /** Negative: the clock steps back, as a new primary's may; the table must not care. */
  | { readonly kind: 'wait'; readonly ms: number };

const keyArb = fc.constantFrom('a', 'b', 'c', 'd');
const valueArb = fc.constantFrom(...[{}, { n: 1 }, [1, 2], 'text'].map(enc));
const ttlArb = fc.integer({ min: 1, max: 3_000 });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record(
    { op: fc.constant('set' as const), key: keyArb, value: valueArb, ttlMs: ttlArb },
    { requiredKeys: ['op', 'key', 'value'] },
  ),
  fc.record({ op: fc.constant('delete' as const), key: keyArb }),
  fc.record({ op: fc.constant('touch' as const), key: keyArb, ttlMs: ttlArb }),
  fc.record({
    op: fc.constant('patch' as const),
    key: keyArb,
    ops: fc.constant([{ op: 'incr' as const, path: 'n', by: 1 }]),
  }),
);
const idArb: fc.Arbitrary<IdempotencyId | null> = fc.option(
  fc
    .record({
      clientId: fc.constantFrom('x', 'y', 'z'),
      seq: fc.integer({ min: 0, max: 12 }),
      acked: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
    })
    .map(({ clientId, seq, acked }) =>
      acked === undefined || acked > seq ? { clientId, seq } : { clientId, seq, ackedBelow: acked },
    ),
  { nil: null },
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('execute' as const), command: commandArb, id: idArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('reclaim' as const),
      max: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('wait' as const),
      ms: fc.integer({ min: -1_500, max: 2_500 }),
    }),
  },
);

/** Runs a step on a store acting as primary; returns its mutations. */
function run(store: PartitionStore, step: Step, now: number): readonly Mutation[] {
  switch (step.kind) {
    case 'execute':
      return step.id === null
        ? store.execute(step.command, now).mutations
        : store.execute(step.command, now, step.id).mutations;
    case 'reclaim':
      return store.reclaimExpired(now, step.max);
    case 'wait':
      return [];
  }
}

test('a loaded store stays equal to the original under the same later writes, executed or applied', () => {
  fc.assert(
    fc.property(
      fc.array(stepArb, { maxLength: 40 }),
      fc.array(stepArb, { maxLength: 40 }),
      (before, after) => {
        const original = newStore(limits);
        let now = t0;
        for (const step of before) {
          if (step.kind === 'wait') now += step.ms;
          run(original, step, now);
        }
        const snapshot = copyOf(original);
        const promotedBudget = new MemoryBudget();
        const promoted = PartitionStore.load(options(promotedBudget), snapshot);
        const backupBudget = new MemoryBudget();
        const backup = PartitionStore.load(options(backupBudget), structuredClone(snapshot));
        assert.deepEqual(state(promoted), state(original));
        for (const step of after) {
          if (step.kind === 'wait') now += step.ms;
          const mutations = run(original, step, now);
          // A backup promoted at the snapshot decides exactly as the original does.
          assert.deepEqual(plainMutations(run(promoted, step, now)), plainMutations(mutations));
          backup.apply(structuredClone(mutations));
        }
        const expected = state(original);
        assert.deepEqual(state(promoted), expected);
        assert.deepEqual(state(backup), expected);
        assert.equal(promotedBudget.usedBytes, original.bytes);
        assert.equal(backupBudget.usedBytes, original.bytes);
      },
    ),
    { numRuns: 300 },
  );
});
