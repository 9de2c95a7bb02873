/**
 * Sequential specifications for the linearizability checker.
 *
 * A model is the slow obvious object the system pretends to be: a pure state machine that says
 * whether an operation, with the result a client observed, could have happened in a given
 * state, and what the state is afterwards. The checker searches for an order of operations
 * that the model accepts; the model itself knows nothing about time or concurrency.
 *
 * Two obligations make the search's memoization sound. `step` must be pure (the checker
 * revisits states while backtracking and keeps old states on its stack), and `key` must be
 * injective on the states that behave differently: two states with the same key are treated
 * as one, so the future from one is assumed to be the future from the other.
 *
 * Operations with an unknown outcome (status 'info') have no observed result: the model must
 * accept them in any state in which they could have taken effect, ignoring `output`.
 *
 * The register model below is one key of Statehouse in sync mode. Its state is the canonical
 * JSON text of the value (object keys sorted at every level), or `null` for an absent key, so
 * that structural equality, as the store's cas uses it, is string equality, and the state is
 * its own memo key. The checker deliberately does not reuse the store's jsonEqual: a checker
 * that shares code with the system it checks can share its bugs too.
 */
import type { Operation } from './history.js';

export interface StepResult<S> {
  ok: boolean;
  state: S;
}

export interface Model<S> {
  init(): S;
  step(state: S, op: Operation): StepResult<S>;
  /** Equal keys for states that no sequence of operations can tell apart. */
  key(state: S): string;
  /** The state as a person would write it, for violation reports. */
  describe(state: S): string;
  /** Why `op` cannot follow `state`, when step refused it. */
  explain(state: S, op: Operation): string;
}

/** JSON text with object keys sorted at every level: structurally equal values, equal text. */
export function canonicalJson(value: unknown): string {
  const text = JSON.stringify(value === undefined ? null : value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
  return text;
}

/** A register holds canonical JSON text; 'null' is an absent key. */
export type RegisterState = string;

/**
 * Canonical texts of an operation's arguments, computed once per operation: the search calls
 * `step` on the same operation many times, and values can be whole session documents.
 */
interface Prepared {
  input: string;
  expected: string;
  output: string;
}
const prepared = new WeakMap<Operation, Prepared>();
function prepare(op: Operation): Prepared {
  let p = prepared.get(op);
  if (p === undefined) {
    const pair = Array.isArray(op.input) ? op.input : [];
    p = {
      input: op.f === 'cas' ? canonicalJson(pair[1]) : canonicalJson(op.input),
      expected: canonicalJson(pair[0]),
      output: canonicalJson(op.output),
    };
    prepared.set(op, p);
  }
  return p;
}

export const registerModel: Model<RegisterState> = {
  init: () => 'null',
  step(state, op) {
    const p = prepare(op);
    switch (op.f) {
      case 'read':
        // A read whose outcome is unknown observed nothing: it fits every state.
        return { ok: op.status === 'info' || p.output === state, state };
      case 'write':
        return { ok: true, state: p.input };
      case 'delete':
        return { ok: true, state: 'null' };
      case 'cas':
        // A cas reported ok succeeded, so the register held `expected`. One with an unknown
        // outcome either succeeded (same condition) or found a mismatch and changed nothing.
        if (p.expected === state) return { ok: true, state: p.input };
        return { ok: op.status === 'info', state };
      case 'incr':
      case 'add':
        // Patch operations are checked by commutative.ts; a register history holding them was
        // routed to the wrong checker, which is a bug in the test, not in the system.
        throw new Error(`registerModel: ${op.f} is not a register operation; see commutative.ts`);
    }
  },
  key: (state) => state,
  describe: (state) => (state === 'null' ? 'absent (null)' : state),
  explain(state, op) {
    const now = state === 'null' ? 'was absent' : `held ${state}`;
    const p = prepare(op);
    if (op.f === 'read') return `the read returned ${p.output} but the register ${now}`;
    if (op.f === 'cas') return `the cas succeeded expecting ${p.expected} but the register ${now}`;
    return `the model accepts ${op.f} in every state`;
  },
};
