/**
 * Linearizability checking: the Wing-Gong-Lowe search, as in Lowe's "Testing for
 * linearizability" (2017) and Porcupine.
 *
 * The question. A history is linearizable if each operation can be given a single instant
 * between its call and its return such that, executed in the order of those instants, the
 * operations are accepted by the sequential model (every read returns what the model holds).
 *
 * P-compositionality. Operations on different keys never constrain each other (a register per
 * key), and a history is linearizable iff each key's sub-history is (Herlihy and Wing's
 * locality). So the history is split by key and each key searched alone: the search is
 * exponential in the number of concurrent operations, and splitting turns one product of
 * possibilities into a sum.
 *
 * The search, for one key. Every operation contributes a call entry and a return entry,
 * sorted by time into a doubly linked list (calls before returns at equal times, so that
 * operations that merely touch are treated as concurrent: the permissive reading, which can
 * miss a violation at a tie but never invents one). A cursor walks the list from the head:
 *  1. At a call entry, the operation is "minimal": nothing still in the list had to happen
 *     before it, because every entry before the cursor is a call. Try it in the model; if the
 *     model accepts it and the pair (set of linearized operations, model state) is new, lift
 *     both its entries out of the list, push it on the stack and restart from the head.
 *     Otherwise move on to the next entry.
 *  2. At a return entry, the operation it belongs to must have taken effect by now and none of
 *     the minimal calls could be linearized here: pop the last linearized operation, put its
 *     entries back, restore the state and continue after its call entry (backtracking).
 *     With an empty stack there is nothing to undo: no linearization exists.
 *  3. When no operation with a finite return remains, every completed operation has been
 *     placed: the history is linearizable.
 *
 * Unknown outcomes. An operation recorded as `info` may have taken effect at any moment after
 * its call, or never. Its return is at +Infinity, so its return entry is at the end of the list
 * and never forces it in (step 2 only fires at finite returns before it); and step 3 declares
 * success without it, which is the linearization in which it never happened (or happened after
 * everything observed). Meanwhile its call entry stays in the list, so the search may still
 * place it early when a read needs its value.
 *
 * Why it is correct. Steps 1 and 2 enumerate exactly the orders that respect real time: an
 * operation is placed only when every operation that returned before its call is already
 * placed (those return entries precede its call entry, so the cursor could not have passed
 * them). Backtracking revisits every choice. The cache only skips a configuration (same set of
 * placed operations, same model state) that was already explored, and the future of the search
 * depends only on those two things, so pruning loses no linearization.
 *
 * Cost. Worst case exponential: n concurrent operations have up to 2^n placed-sets, times the
 * number of distinct states. The cache makes the common case (few operations overlap at any
 * instant) near linear. Each step costs O(n/32) to build the cache key from the bitset. The
 * budget bounds the steps per key: past it the key is reported 'unknown', never hung on.
 */
import { describeOperation, type Operation } from './history.js';
import type { Model } from './models.js';

export interface CheckOptions {
  /**
   * Search steps (entries visited) allowed per key before giving up with 'unknown'. Default
   * 5,000,000: about a second of work (a step costs some 0.2 us with a short bitset), far
   * beyond what a run with a handful of clients per key needs, yet bounded.
   */
  stepsPerKeyMax?: number;
}

export const defaultStepsPerKeyMax = 5_000_000;

export interface Violation {
  key: string;
  /** Several lines a person can read: what was placed, what came next, what the model said. */
  description: string;
  /** The longest linearizable prefix the search found, in linearization order. */
  longestPrefix: Operation[];
  /** The operation that could not follow that prefix. */
  operation: Operation;
  /** The model state after the prefix, as the model describes it. */
  stateAfterPrefix: string;
}

export interface KeyResult {
  key: string;
  result: 'ok' | 'violation' | 'unknown';
  operations: number;
  steps: number;
}

export interface CheckResult {
  /** True only when every key is linearizable; a key left 'unknown' makes it false. */
  ok: boolean;
  keys: number;
  operations: number;
  violations: Violation[];
  /** Keys whose search ran out of budget: neither proven nor refuted. */
  unknownKeys: string[];
  perKey: KeyResult[];
}

/** Checks every key of `operations` against `model` (P-compositionality: one search per key). */
export function checkLinearizable<S>(
  operations: readonly Operation[],
  model: Model<S>,
  options: CheckOptions = {},
): CheckResult {
  const stepsMax = options.stepsPerKeyMax ?? defaultStepsPerKeyMax;
  if (!Number.isSafeInteger(stepsMax) || stepsMax <= 0) {
    throw new RangeError('stepsPerKeyMax must be a positive integer');
  }
  const byKey = new Map<string, Operation[]>();
  for (const op of operations) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  const violations: Violation[] = [];
  const unknownKeys: string[] = [];
  const perKey: KeyResult[] = [];
  for (const [key, ops] of byKey) {
    const r = checkKey(key, ops, model, stepsMax);
    perKey.push({ key, result: r.result, operations: ops.length, steps: r.steps });
    if (r.result === 'violation') violations.push(r.violation);
    if (r.result === 'unknown') unknownKeys.push(key);
  }
  return {
    ok: violations.length === 0 && unknownKeys.length === 0,
    keys: byKey.size,
    operations: operations.length,
    violations,
    unknownKeys,
    perKey,
  };
}

type KeyOutcome =
  | { result: 'ok'; steps: number }
  | { result: 'unknown'; steps: number }
  | { result: 'violation'; steps: number; violation: Violation };

/** Entry 0 is the list's head sentinel; entries 1..2n are calls and returns. */
const head = 0;

function checkKey<S>(
  key: string,
  ops: readonly Operation[],
  model: Model<S>,
  stepsMax: number,
): KeyOutcome {
  const n = ops.length;
  // Entry e (1-based) belongs to operation opOf[e]; it is a call when isCall[e].
  const order: { op: number; call: boolean; time: number }[] = [];
  ops.forEach((op, i) => {
    order.push({ op: i, call: true, time: op.call });
    order.push({ op: i, call: false, time: op.ret });
  });
  // By time; calls first at equal times (see the essay); then by operation, so that the search
  // is deterministic. Compared, not subtracted: Infinity - Infinity is NaN.
  order.sort((a, b) =>
    a.time === b.time ? Number(b.call) - Number(a.call) || a.op - b.op : a.time < b.time ? -1 : 1,
  );
  const size = 2 * n + 1;
  const next = new Int32Array(size).fill(-1);
  const prev = new Int32Array(size).fill(-1);
  const opOf = new Int32Array(size);
  const isCall = new Uint8Array(size);
  const callEntry = new Int32Array(n);
  const returnEntry = new Int32Array(n);
  let last = head;
  order.forEach((o, i) => {
    const e = i + 1;
    opOf[e] = o.op;
    isCall[e] = o.call ? 1 : 0;
    if (o.call) callEntry[o.op] = e;
    else returnEntry[o.op] = e;
    next[last] = e;
    prev[e] = last;
    last = e;
  });

  // Dancing links: a removed entry keeps its own pointers, so undoing removals in reverse
  // order puts it back exactly where it was.
  const lift = (op: number): void => {
    for (const e of [callEntry[op] as number, returnEntry[op] as number]) {
      const p = prev[e] as number;
      const q = next[e] as number;
      next[p] = q;
      if (q !== -1) prev[q] = p;
    }
  };
  const unlift = (op: number): void => {
    for (const e of [returnEntry[op] as number, callEntry[op] as number]) {
      const p = prev[e] as number;
      const q = next[e] as number;
      next[p] = e;
      if (q !== -1) prev[q] = e;
    }
  };

  const words = Math.ceil(n / 32);
  const placed = new Uint32Array(words);
  const toggle = (op: number): void => {
    placed[op >>> 5] = (placed[op >>> 5] as number) ^ (1 << (op & 31));
  };
  const cache = new Set<string>();

  const stack: { op: number; before: S }[] = [];
  let state = model.init();
  let finiteRemaining = ops.filter((op) => op.ret !== Infinity).length;
  // The deepest point reached, kept for the report: the prefix, and who blocked it.
  let best: { prefix: number[]; blocked: number; state: S } | undefined;

  let steps = 0;
  let entry = next[head] as number;
  while (finiteRemaining > 0) {
    if (++steps > stepsMax) return { result: 'unknown', steps: steps - 1 };
    // Every entry before the cursor is a call, and a finite return remains, so the cursor
    // cannot run off the end; if it does, the list is corrupt.
    if (entry === -1) throw new Error(`wgl: cursor ran off the list for key ${key}`);
    const op = opOf[entry] as number;
    if (isCall[entry] === 1) {
      const r = model.step(state, ops[op] as Operation);
      if (r.ok) {
        toggle(op);
        const memo = `${placed.join(',')}|${model.key(r.state)}`;
        if (!cache.has(memo)) {
          cache.add(memo);
          stack.push({ op, before: state });
          state = r.state;
          lift(op);
          if ((ops[op] as Operation).ret !== Infinity) finiteRemaining--;
          entry = next[head] as number;
          continue;
        }
        toggle(op);
      }
      entry = next[entry] as number;
      continue;
    }
    // A return entry: its operation had to be placed by now, and could not be.
    if (best === undefined || stack.length > best.prefix.length) {
      best = { prefix: stack.map((s) => s.op), blocked: op, state };
    }
    const top = stack.pop();
    if (top === undefined) {
      return { result: 'violation', steps, violation: report(key, ops, model, best) };
    }
    state = top.before;
    toggle(top.op);
    unlift(top.op);
    if ((ops[top.op] as Operation).ret !== Infinity) finiteRemaining++;
    entry = next[callEntry[top.op] as number] as number;
  }
  return { result: 'ok', steps };
}

function report<S>(
  key: string,
  ops: readonly Operation[],
  model: Model<S>,
  best: { prefix: number[]; blocked: number; state: S },
): Violation {
  const longestPrefix = best.prefix.map((i) => ops[i] as Operation);
  const operation = ops[best.blocked] as Operation;
  const stateAfterPrefix = model.describe(best.state);
  // The blocked operation is the one whose return the search could not get past. Usually the
  // model refused it outright; if it accepted it, the refusal came later in that branch.
  const why = model.step(best.state, operation).ok
    ? 'The model accepts it here, but every order that follows it fails.'
    : `The model refuses it: ${model.explain(best.state, operation)}.`;
  const lines = [
    `key ${JSON.stringify(key)} is not linearizable.`,
    `The longest linearizable prefix has ${longestPrefix.length} of ${ops.length} operations:`,
    ...longestPrefix.map((op, i) => `  ${i + 1}. ${describeOperation(op)}`),
    `after which the state is ${stateAfterPrefix}.`,
    `Next, this operation must take effect (it returned before anything still unplaced began):`,
    `  ${describeOperation(operation)}`,
    why,
  ];
  return {
    key,
    description: lines.join('\n'),
    longestPrefix,
    operation,
    stateAfterPrefix,
  };
}
