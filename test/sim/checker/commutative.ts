/**
 * Checks for patch operations that commute: counters (`incr`) and sets (`add`).
 *
 * A full linearizability search over increments is wasteful: increments commute, so the order
 * in which concurrent ones took effect never matters, only which of them had taken effect when
 * a read looked. That makes the check a pair of bounds per read instead of a search:
 *
 * Counters. A read r must see the sum of
 *  - every increment that definitely happened before r began (reported ok, returned before
 *    r's call), plus
 *  - some subset of the increments that might have happened by the time r returned: those
 *    concurrent with r (called before r returned, not returned before r began) and those with
 *    an unknown outcome (info: they may have landed at any time after their call, or never).
 * With positive and negative amounts, that subset's sum lies in [sum of the negative amounts,
 * sum of the positive ones], so r's value must lie in [definite + negatives, definite +
 * positives]. With the usual amounts of +1 that range is exact; with mixed amounts it is a
 * necessary condition only (not every integer in the range is a subset sum), which is the
 * honest limit of this check. The last read, when it began after every increment had returned,
 * is the final value: the sum of the ok increments plus any subset of the info ones; its range
 * is reported on its own.
 *
 * Sets. Additions commute too. Every element whose add was reported ok must appear in every
 * read that began after the add returned (a lost addition is a lost acknowledged write), and
 * every element a read shows must have had its add called before the read returned (nothing
 * appears from nowhere).
 *
 * Ties at equal times count as concurrent, as in wgl.ts: the permissive reading. A key is
 * routed here by holding incr or add operations; it may hold reads besides, nothing else
 * (a write or a delete would reset the counter and needs the register model instead).
 * Cost: O(reads x updates) per key, with no search and no budget needed.
 */
import { describeOperation, type Operation } from './history.js';
import { canonicalJson } from './models.js';

export interface CommutativeViolation {
  key: string;
  description: string;
  operation: Operation;
}

export interface CounterFinal {
  key: string;
  read: Operation;
  /** The range the final value must lie in: ok increments plus any subset of the info ones. */
  min: number;
  max: number;
}

export interface CommutativeResult {
  ok: boolean;
  keys: number;
  violations: CommutativeViolation[];
  finals: CounterFinal[];
}

/** Checks every key holding incr or add operations; other keys are ignored. */
export function checkCommutative(operations: readonly Operation[]): CommutativeResult {
  const byKey = new Map<string, Operation[]>();
  for (const op of operations) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  const violations: CommutativeViolation[] = [];
  const finals: CounterFinal[] = [];
  let keys = 0;
  for (const [key, ops] of byKey) {
    const fs = new Set(ops.map((op) => op.f));
    if (!fs.has('incr') && !fs.has('add')) continue;
    keys++;
    for (const f of fs) {
      if (f !== 'read' && f !== (fs.has('incr') ? 'incr' : 'add')) {
        // A workload bug: this check cannot account for a reset, so refuse to guess.
        throw new Error(`checkCommutative: key ${key} mixes ${[...fs].join(', ')}`);
      }
    }
    if (fs.has('incr')) {
      const r = checkCounter(key, ops);
      violations.push(...r.violations);
      if (r.final !== undefined) finals.push(r.final);
    } else {
      violations.push(...checkSet(key, ops));
    }
  }
  return { ok: violations.length === 0, keys, violations, finals };
}

function checkCounter(
  key: string,
  ops: readonly Operation[],
): { violations: CommutativeViolation[]; final: CounterFinal | undefined } {
  const incrs = ops.filter((op) => op.f === 'incr');
  const reads = ops.filter((op) => op.f === 'read' && op.status === 'ok');
  const violations: CommutativeViolation[] = [];
  let final: CounterFinal | undefined;
  const lastRead = reads.reduce<Operation | undefined>(
    (a, b) => (a === undefined || b.call > a.call ? b : a),
    undefined,
  );
  for (const read of reads) {
    let definite = 0;
    let negatives = 0;
    let positives = 0;
    for (const inc of incrs) {
      const amount = inc.input as number;
      if (inc.status === 'ok' && inc.ret < read.call) definite += amount;
      else if (inc.call <= read.ret) {
        if (amount < 0) negatives += amount;
        else positives += amount;
      }
    }
    const min = definite + negatives;
    const max = definite + positives;
    // An absent counter reads as null: nothing has been added yet.
    const seen = read.output === null ? 0 : read.output;
    if (read === lastRead && incrs.every((inc) => inc.status === 'info' || inc.ret < read.call)) {
      final = { key, read, min, max };
    }
    if (typeof seen !== 'number' || seen < min || seen > max) {
      violations.push({
        key,
        operation: read,
        description:
          `counter ${JSON.stringify(key)}: ${describeOperation(read)} saw ${JSON.stringify(seen)}, ` +
          `but the increments allow only [${min}, ${max}]: ${definite} from increments ` +
          `acknowledged before the read began, plus any subset of the concurrent or unknown ones ` +
          `(${negatives} to +${positives}).`,
      });
    }
  }
  return { violations, final };
}

function checkSet(key: string, ops: readonly Operation[]): CommutativeViolation[] {
  const adds = ops
    .filter((op) => op.f === 'add')
    .map((op) => ({ op, element: canonicalJson(op.input) }));
  const reads = ops.filter((op) => op.f === 'read' && op.status === 'ok');
  const violations: CommutativeViolation[] = [];
  for (const read of reads) {
    const output: unknown = read.output;
    if (output !== null && !Array.isArray(output)) {
      violations.push({
        key,
        operation: read,
        description: `set ${JSON.stringify(key)}: ${describeOperation(read)} is not an array.`,
      });
      continue;
    }
    const seen = new Set((output ?? []).map((e) => canonicalJson(e)));
    for (const { op, element } of adds) {
      if (op.status === 'ok' && op.ret < read.call && !seen.has(element)) {
        violations.push({
          key,
          operation: read,
          description:
            `set ${JSON.stringify(key)}: lost addition of ${element}: ` +
            `${describeOperation(op)} was acknowledged before ` +
            `${describeOperation(read)} began, which does not contain it.`,
        });
      }
    }
    for (const element of seen) {
      if (!adds.some((a) => a.element === element && a.op.call <= read.ret)) {
        violations.push({
          key,
          operation: read,
          description:
            `set ${JSON.stringify(key)}: ${describeOperation(read)} contains ${element}, ` +
            `which no add had been called with before the read returned.`,
        });
      }
    }
  }
  return violations;
}
