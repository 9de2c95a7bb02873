/**
 * Checks for keys written with a time to live: every write of such a key sets a fresh value
 * with the same `ttlMs`, and nothing else changes it (no deletes, no writes without a TTL).
 *
 * Expiry is decided by wall clocks, not by the order of operations, so the register model
 * cannot judge it. What can be judged is a pair of bounds per read. The primary that applies
 * a write at true time t (between the write's call and return) sets expiresAt = t + e1 +
 * ttlMs, where e1 is its clock's error (its clock minus true time); a primary answering a
 * read at true time r, with clock error e2, answers the value while r + e2 < expiresAt. With
 * D the largest difference between two clock errors in the run (`clockSpreadMs`):
 *
 * - Not outlived. A read that returns the value of write W began before W returned +
 *   ttlMs + D. Later, every clock in the cluster says W's value has expired, so a node that
 *   answers it kept no expiry, or one of its own making (a new primary counting the TTL from
 *   when it received the entry, say).
 * - Not expired early. A read that finds nothing, after a write W had returned ok, returned
 *   no earlier than W's call + ttlMs - D. Any value present at r comes from W or from a write
 *   applied after it, all with the same ttlMs, so nothing can have expired sooner.
 * - Nothing from nowhere. A read returns null or a value some write of the key was called
 *   with before the read returned.
 *
 * A write whose outcome is unknown (info) may take effect at any time after its call, so it
 * bounds nothing: it only excuses the values a read returns. Values must be unique per key.
 * When D is larger than ttlMs, the early bound allows everything: the check says so by
 * counting the reads it could judge (`earlyJudged`).
 */
import { describeOperation, type Operation } from './history.js';

export interface ExpiryViolation {
  key: string;
  description: string;
  operation: Operation;
}

export interface ExpiryOptions {
  /** The TTL every write of these keys sets. */
  readonly ttlMs: number;
  /** The largest difference between two clocks' errors during the run (D above), in ms. */
  readonly clockSpreadMs: number;
}

export interface ExpiryResult {
  ok: boolean;
  keys: number;
  violations: ExpiryViolation[];
  /** Reads that returned a value, each held to the outlived bound. */
  valueReads: number;
  /** Reads that found nothing after an acknowledged write, whose early bound could bite. */
  earlyJudged: number;
  /** Reads that found nothing after an acknowledged write: expiries observed. */
  expiredReads: number;
}

/** Checks the operations of `keys`; every one of them must hold only reads and writes. */
export function checkExpiry(
  operations: readonly Operation[],
  keys: ReadonlySet<string>,
  options: ExpiryOptions,
): ExpiryResult {
  const { ttlMs, clockSpreadMs } = options;
  const result: ExpiryResult = {
    ok: true,
    keys: 0,
    violations: [],
    valueReads: 0,
    earlyJudged: 0,
    expiredReads: 0,
  };
  const byKey = new Map<string, Operation[]>();
  for (const op of operations) {
    if (!keys.has(op.key)) continue;
    if (op.f !== 'read' && op.f !== 'write') {
      // A workload bug: a delete or a patch would change what the bounds mean.
      throw new Error(`checkExpiry: key ${op.key} holds a ${op.f}`);
    }
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  for (const [key, ops] of byKey) {
    result.keys++;
    const writes = ops.filter((op) => op.f === 'write');
    const writeOf = new Map<string, Operation>();
    for (const w of writes) {
      const value = JSON.stringify(w.input);
      if (writeOf.has(value)) throw new Error(`checkExpiry: ${key} was written ${value} twice`);
      writeOf.set(value, w);
    }
    const acknowledged = writes.filter((w) => w.status === 'ok');
    const fail = (operation: Operation, why: string): void => {
      result.violations.push({
        key,
        operation,
        description: `${describeOperation(operation)}: ${why}`,
      });
    };
    for (const read of ops) {
      if (read.f !== 'read' || read.status !== 'ok') continue;
      if (read.output !== null) {
        result.valueReads++;
        const w = writeOf.get(JSON.stringify(read.output));
        if (w === undefined || w.call > read.ret) {
          fail(read, 'returned a value no write had been called with');
          continue;
        }
        const expiredBy = w.ret + ttlMs + clockSpreadMs;
        if (read.call > expiredBy) {
          fail(
            read,
            `returned the value of ${describeOperation(w)} ${read.call - expiredBy} ms after ` +
              `every clock said it had expired (TTL ${ttlMs} ms, clocks ${clockSpreadMs} ms apart)`,
          );
        }
        continue;
      }
      const before = acknowledged.filter((w) => w.ret < read.call);
      if (before.length === 0) continue;
      result.expiredReads++;
      const latestCall = Math.max(...before.map((w) => w.call));
      const earliestExpiry = latestCall + ttlMs - clockSpreadMs;
      if (earliestExpiry > before.find((w) => w.call === latestCall)!.ret) result.earlyJudged++;
      if (read.ret < earliestExpiry) {
        const w = before.find((b) => b.call === latestCall)!;
        fail(
          read,
          `found nothing ${earliestExpiry - read.ret} ms before ${describeOperation(w)} could ` +
            `have expired on any clock (TTL ${ttlMs} ms, clocks ${clockSpreadMs} ms apart)`,
        );
      }
    }
  }
  result.ok = result.violations.length === 0;
  return result;
}
