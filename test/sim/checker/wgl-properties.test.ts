import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Operation } from './history.js';
import { canonicalJson, registerModel } from './models.js';
import { checkLinearizable } from './wgl.js';

/**
 * Histories recorded from a real register, so linearizable by construction: each operation
 * takes effect at one instant inside its interval, in the order of those instants. Small
 * values (0..3) make cas succeed often and reads ambiguous, which is what stresses the search.
 */
interface Step {
  process: number;
  key: string;
  f: 'read' | 'write' | 'cas' | 'delete';
  a: number;
  b: number;
  gap: number;
  duration: number;
  /** Where in [call, ret] the operation takes effect, as a fraction. */
  at: number;
  /** Whether the client learns the outcome; if not, whether it took effect anyway. */
  known: boolean;
  appliedIfUnknown: boolean;
}

const stepArb = (processes: number, keys: string[]): fc.Arbitrary<Step> =>
  fc.record({
    process: fc.nat(processes - 1),
    key: fc.constantFrom(...keys),
    f: fc.constantFrom('read', 'read', 'write', 'cas', 'delete'),
    a: fc.nat(3),
    b: fc.nat(3),
    gap: fc.nat(5),
    duration: fc.integer({ min: 1, max: 20 }),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    // One operation in ten times out, as under a fault.
    known: fc.nat(9).map((n) => n > 0),
    appliedIfUnknown: fc.boolean(),
  });

/**
 * Runs the steps against a Map. `sequential` puts every operation after the previous one on a
 * single timeline; otherwise each process is sequential and processes overlap freely.
 */
function record(steps: readonly Step[], sequential: boolean): Operation[] {
  const freeAt = new Map<number, number>();
  let clock = 0;
  const timed = steps.map((s) => {
    const start = (sequential ? clock : (freeAt.get(s.process) ?? 0)) + s.gap + 1;
    const end = start + s.duration;
    clock = end;
    freeAt.set(s.process, end);
    return { s, call: start, ret: end, point: start + s.at * s.duration };
  });
  const byPoint = [...timed].sort((x, y) => x.point - y.point);
  const store = new Map<string, unknown>();
  const ops: Operation[] = [];
  for (const { s, call, ret } of byPoint) {
    const current = store.get(s.key) ?? null;
    const applies = s.known || s.appliedIfUnknown;
    const base = { process: s.process, f: s.f, key: s.key, call, output: null as unknown };
    const done = s.known
      ? { ret, status: 'ok' as const }
      : { ret: Infinity, status: 'info' as const };
    if (s.f === 'read') {
      ops.push({ ...base, ...done, input: null, output: s.known ? current : null });
    } else if (s.f === 'write') {
      if (applies) store.set(s.key, s.a);
      ops.push({ ...base, ...done, input: s.a });
    } else if (s.f === 'delete') {
      if (applies) store.delete(s.key);
      ops.push({ ...base, ...done, input: null });
    } else {
      const matches = canonicalJson(current) === canonicalJson(s.a);
      if (matches && applies) store.set(s.key, s.b);
      // A known mismatch is recorded as fail and dropped; an unknown one stays as info.
      if (matches || !s.known) ops.push({ ...base, ...done, input: [s.a, s.b] });
    }
  }
  return ops.sort((x, y) => x.call - y.call);
}

// Note `size: 'max'`: fast-check's default size keeps arrays to a handful of elements, too
// few operations to overlap much.
test('a history executed sequentially against a register is linearizable', () => {
  fc.assert(
    fc.property(fc.array(stepArb(3, ['k']), { maxLength: 40, size: 'max' }), (steps) => {
      const result = checkLinearizable(record(steps, true), registerModel);
      assert.equal(result.ok, true, result.violations[0]?.description);
    }),
    { numRuns: 200 },
  );
});

test('a concurrent history recorded from a register, with unknown outcomes, is linearizable', () => {
  fc.assert(
    // One key, so that every operation competes with every other; partitioning by key is
    // covered by the known histories.
    fc.property(fc.array(stepArb(6, ['k']), { maxLength: 40, size: 'max' }), (steps) => {
      const result = checkLinearizable(record(steps, false), registerModel);
      assert.equal(result.ok, true, result.violations[0]?.description);
    }),
    { numRuns: 500 },
  );
});

test('one read made stale in a sequential history is caught', () => {
  // Only known outcomes: then every read in a sequential history has exactly one legal value,
  // and replacing it with a value the register held earlier must be refused.
  const knownStep = stepArb(3, ['k']).map((s) => ({ ...s, known: true }));
  fc.assert(
    fc.property(
      fc.array(knownStep, { minLength: 2, maxLength: 40, size: 'max' }),
      fc.nat(),
      fc.nat(),
      (steps, whichRead, whichValue) => {
        const ops = record(steps, true);
        // The values the register held before each read, and the reads that have a stale one.
        const held: string[] = ['null'];
        const candidates: { read: number; stale: string[] }[] = [];
        ops.forEach((op, i) => {
          if (op.f === 'read') {
            const seen = canonicalJson(op.output);
            const stale = [...new Set(held)].filter((v) => v !== seen);
            if (stale.length > 0) candidates.push({ read: i, stale });
          } else if (op.f === 'write') held.push(canonicalJson(op.input));
          else if (op.f === 'delete') held.push('null');
          else if (op.f === 'cas') held.push(canonicalJson((op.input as unknown[])[1]));
        });
        fc.pre(candidates.length > 0);
        const c = candidates[whichRead % candidates.length] as (typeof candidates)[number];
        const staleValue: unknown = JSON.parse(c.stale[whichValue % c.stale.length] as string);
        const mutated = ops.map((op, i) => (i === c.read ? { ...op, output: staleValue } : op));
        const result = checkLinearizable(mutated, registerModel);
        assert.equal(result.ok, false);
        assert.equal(result.violations[0]?.operation, mutated[c.read]);
      },
    ),
    { numRuns: 200 },
  );
});
