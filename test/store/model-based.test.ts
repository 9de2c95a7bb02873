import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { PartitionStore } from '../../src/store/index.js';
import { hex, newStore, okResult, t0 } from './helpers.js';

/**
 * The store against the slowest obvious thing that could be right: a Map of entries with the
 * expiry checked by hand on every access, and reclaiming done by sorting all entries.
 */
interface ModelEntry {
  value: string;
  version: number;
  expiresAt: number;
}

class Model {
  readonly entries = new Map<string, ModelEntry>();
  seq = 0;

  live(key: string, now: number): ModelEntry | undefined {
    const e = this.entries.get(key);
    return e !== undefined && (e.expiresAt === 0 || e.expiresAt > now) ? e : undefined;
  }

  set(key: string, value: string, now: number, ttlMs?: number, keepTtl?: boolean): number {
    const previous = this.live(key, now);
    const expiresAt = ttlMs !== undefined ? now + ttlMs : keepTtl ? (previous?.expiresAt ?? 0) : 0;
    this.entries.set(key, { value, version: ++this.seq, expiresAt });
    return this.seq;
  }

  delete(key: string, now: number): boolean {
    const wasLive = this.live(key, now) !== undefined;
    if (this.entries.delete(key)) this.seq++;
    return wasLive;
  }

  touch(key: string, ttlMs: number, now: number): { found: boolean; expiresAt: number } {
    const e = this.live(key, now);
    if (e === undefined) return { found: false, expiresAt: 0 };
    this.seq++;
    e.expiresAt = now + ttlMs;
    return { found: true, expiresAt: e.expiresAt };
  }

  ttl(key: string, now: number): { exists: boolean; ttlMs: number | null } {
    const e = this.live(key, now);
    if (e === undefined) return { exists: false, ttlMs: null };
    return { exists: true, ttlMs: e.expiresAt === 0 ? null : e.expiresAt - now };
  }

  reclaim(now: number, max: number): string[] {
    const due = [...this.entries]
      .filter(([, e]) => e.expiresAt !== 0 && e.expiresAt <= now)
      .sort(([ka, a], [kb, b]) => a.expiresAt - b.expiresAt || (ka < kb ? -1 : 1))
      .slice(0, max)
      .map(([key]) => key);
    for (const key of due) {
      this.entries.delete(key);
      this.seq++;
    }
    return due;
  }
}

type Step =
  | { op: 'get' | 'ttl' | 'delete'; key: string }
  | { op: 'set'; key: string; value: number; ttlMs: number | null; keepTtl: boolean }
  | { op: 'touch'; key: string; ttlMs: number }
  | { op: 'advance'; ms: number }
  | { op: 'reclaim'; max: number };

const keyArb = fc.constantFrom('a', 'b', 'c', 'd');
// Few distinct times, so that a read often lands exactly on an expiry: the off-by-one spot.
const ttlArb = fc.constantFrom(1, 10, 20, 50, 100);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constantFrom('get' as const, 'ttl' as const, 'delete' as const),
    key: keyArb,
  }),
  fc.record({
    op: fc.constant('set' as const),
    key: keyArb,
    value: fc.integer({ min: 0, max: 255 }),
    ttlMs: fc.option(ttlArb, { nil: null }),
    keepTtl: fc.boolean(),
  }),
  fc.record({ op: fc.constant('touch' as const), key: keyArb, ttlMs: ttlArb }),
  fc.record({ op: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 5, 10, 20, 50) }),
  fc.record({ op: fc.constant('reclaim' as const), max: fc.integer({ min: 0, max: 3 }) }),
);

function check(store: PartitionStore, model: Model, step: Step, now: number): void {
  switch (step.op) {
    case 'get': {
      const entry = okResult(store.execute({ op: 'get', key: step.key }, now), 'get').entry;
      const expected = model.live(step.key, now);
      assert.deepEqual(
        entry === null
          ? null
          : { value: hex(entry.value), version: entry.version, expiresAt: entry.expiresAt },
        expected === undefined ? null : { ...expected },
      );
      return;
    }
    case 'ttl': {
      const { exists, ttlMs } = okResult(store.execute({ op: 'ttl', key: step.key }, now), 'ttl');
      assert.deepEqual({ exists, ttlMs }, model.ttl(step.key, now));
      return;
    }
    case 'delete':
      assert.equal(
        okResult(store.execute({ op: 'delete', key: step.key }, now), 'delete').deleted,
        model.delete(step.key, now),
      );
      return;
    case 'set': {
      const value = new Uint8Array([step.value]);
      // ttlMs and keepTtl exclude each other; the model only sees valid combinations.
      const keepTtl = step.ttlMs === null && step.keepTtl;
      const ttl = step.ttlMs === null ? {} : { ttlMs: step.ttlMs };
      const { version } = okResult(
        store.execute({ op: 'set', key: step.key, value, keepTtl, ...ttl }, now),
        'set',
      );
      assert.equal(version, model.set(step.key, hex(value), now, step.ttlMs ?? undefined, keepTtl));
      return;
    }
    case 'touch': {
      const { found, expiresAt } = okResult(
        store.execute({ op: 'touch', key: step.key, ttlMs: step.ttlMs }, now),
        'touch',
      );
      assert.deepEqual({ found, expiresAt }, model.touch(step.key, step.ttlMs, now));
      return;
    }
    case 'reclaim': {
      const keys = store
        .reclaimExpired(now, step.max)
        .map((m) => (m.kind === 'delete' ? m.key : '?'));
      assert.deepEqual(keys, model.reclaim(now, step.max));
      return;
    }
    case 'advance':
      return;
  }
}

test('the store answers get, set, delete, touch, ttl and reclaim as a plain map with expiry checks does', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { maxLength: 150 }), (steps) => {
      const store = newStore();
      const model = new Model();
      let now = t0;
      for (const step of steps) {
        if (step.op === 'advance') now += step.ms;
        check(store, model, step, now);
        assert.equal(store.lastSeq, model.seq);
        assert.equal(store.size, model.entries.size);
      }
      const held = [...store.entries()].map(([key, e]) => [
        key,
        hex(e.value),
        e.version,
        e.expiresAt,
      ]);
      const expected = [...model.entries].map(([key, e]) => [key, e.value, e.version, e.expiresAt]);
      const byKey = (a: unknown[], b: unknown[]): number =>
        (a[0] as string) < (b[0] as string) ? -1 : 1;
      assert.deepEqual(held.sort(byKey), expected.sort(byKey));
    }),
    { numRuns: 300 },
  );
});
