/**
 * Shared test fixtures for the store: a fresh store, encoding shorthands, and unwrapping of
 * outcomes that fail the test with the whole outcome in the message when it is not the one
 * expected.
 */
import assert from 'node:assert/strict';
import { decodeValue, encodeValue } from '../../src/core/value-codec.js';
import type { ErrorCode } from '../../src/core/errors.js';
import {
  MemoryBudget,
  PartitionStore,
  type Execution,
  type Failure,
  type Outcome,
  type PartitionStoreOptions,
  type Result,
} from '../../src/store/index.js';

/** A fixed "now": tests move time by adding to it. */
export const t0 = 1_700_000_000_000;

export function newStore(options: Partial<PartitionStoreOptions> = {}): PartitionStore {
  return new PartitionStore({ partition: 0, budget: new MemoryBudget(), ...options });
}

/** Encodes a document into bytes the test owns. */
export function enc(value: unknown): Uint8Array {
  return new Uint8Array(encodeValue(value));
}

export function dec(bytes: Uint8Array): unknown {
  return decodeValue(bytes);
}

export function okResult<K extends Result['op']>(
  outcome: Outcome | Execution,
  op: K,
): Extract<Result, { op: K }> {
  const o = 'outcome' in outcome ? outcome.outcome : outcome;
  if (!o.ok) assert.fail(`expected ${op} to succeed, got ${describe(o)}`);
  assert.equal(o.result.op, op);
  return o.result as Extract<Result, { op: K }>;
}

export function failure(outcome: Outcome | Execution, code: ErrorCode): Failure {
  const o = 'outcome' in outcome ? outcome.outcome : outcome;
  if (o.ok) assert.fail(`expected ${code}, got ${describe(o)}`);
  assert.equal(o.code, code, `expected ${code}, got ${describe(o)}`);
  return o;
}

function describe(outcome: Outcome): string {
  return JSON.stringify(outcome, (_key, value: unknown) =>
    value instanceof Uint8Array ? `<${value.byteLength} bytes>` : value,
  );
}

/** The decoded value of a key now, or null when it is absent or expired. */
export function read(store: PartitionStore, key: string, now = t0): unknown {
  const entry = okResult(store.execute({ op: 'get', key }, now), 'get').entry;
  return entry === null ? null : dec(entry.value);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Every entry as plain data, sorted by key: for comparing replicas. */
export function dump(
  store: PartitionStore,
): { key: string; value: string; version: number; expiresAt: number }[] {
  return [...store.entries()]
    .map(([key, e]) => ({ key, value: hex(e.value), version: e.version, expiresAt: e.expiresAt }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The remembered idempotency results as plain data, in the store's order. */
export function dumpRemembered(store: PartitionStore): unknown[] {
  return [...store.remembered()].map((c) => ({
    clientId: c.clientId,
    lastSeenAt: c.lastSeenAt,
    forgottenUpTo: c.forgottenUpTo,
    results: plain([...c.results.entries()].sort((a, b) => a[0] - b[0])),
  }));
}

/** A deep copy with bytes as hex: a Buffer and a Uint8Array of the same bytes are one state. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return hex(value);
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}
