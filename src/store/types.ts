/**
 * The contract of one partition's store: the commands a primary executes, the results it
 * answers, and the mutations it hands to replication.
 *
 * A primary *executes* a command (conditions, patches, TTL arithmetic happen here, against
 * the primary's clock) and gets back a reply and the mutations that describe its effect.
 * A backup never executes: it *applies* those mutations verbatim, so primaries and backups
 * cannot diverge by evaluating a condition or a clock differently (DESIGN.md section 4).
 */
import type { ErrorCode, ErrorMeta } from '../core/errors.js';

/** Milliseconds since the Unix epoch; 0 means "never expires". */
export type ExpiresAt = number;

export interface EntryView {
  /** The encoded value (core/value-codec.ts). Callers must not modify it. */
  readonly value: Uint8Array;
  /** The partition sequence number of the write that last changed the value. */
  readonly version: number;
  readonly expiresAt: ExpiresAt;
}

/** A field operation of `patch`. Paths are dotted (`cart.items`), at most 32 segments. */
export type PatchOp =
  | { readonly op: 'set'; readonly path: string; readonly value: unknown }
  | { readonly op: 'unset'; readonly path: string }
  | { readonly op: 'incr'; readonly path: string; readonly by: number }
  /** Adds each value to the array at path unless an equal one is there (a set of values). */
  | { readonly op: 'add'; readonly path: string; readonly values: readonly unknown[] }
  /** Removes every element equal to one of the values from the array at path. */
  | { readonly op: 'remove'; readonly path: string; readonly values: readonly unknown[] };

export type Command =
  | { readonly op: 'get'; readonly key: string }
  | {
      readonly op: 'set';
      readonly key: string;
      readonly value: Uint8Array;
      /** Relative TTL; absent clears any expiry unless keepTtl. */
      readonly ttlMs?: number;
      readonly keepTtl?: boolean;
      /** Write only if the current version equals this (0 = only if absent). */
      readonly ifVersion?: number;
      /** Write only if the key is absent. */
      readonly ifAbsent?: boolean;
    }
  | { readonly op: 'delete'; readonly key: string; readonly ifVersion?: number }
  | { readonly op: 'touch'; readonly key: string; readonly ttlMs: number }
  | {
      readonly op: 'cas';
      readonly key: string;
      /** The value expected now, encoded; compared as decoded JSON documents. */
      readonly expected: Uint8Array;
      readonly value: Uint8Array;
      readonly ttlMs?: number;
    }
  | {
      readonly op: 'patch';
      readonly key: string;
      readonly ops: readonly PatchOp[];
      readonly ttlMs?: number;
      readonly ifVersion?: number;
      /** When the key is absent: true starts from `{}`, false answers NOT_FOUND. */
      readonly create?: boolean;
      /** Answer the new value as well as the version. */
      readonly returnValue?: boolean;
    }
  | { readonly op: 'ttl'; readonly key: string };

export type CommandOp = Command['op'];

export type Result =
  | { readonly op: 'get'; readonly entry: EntryView | null }
  | { readonly op: 'set'; readonly version: number }
  | { readonly op: 'delete'; readonly deleted: boolean }
  | { readonly op: 'touch'; readonly found: boolean; readonly expiresAt: ExpiresAt }
  | { readonly op: 'cas'; readonly version: number }
  | { readonly op: 'patch'; readonly version: number; readonly value?: Uint8Array }
  /** ttlMs: remaining milliseconds, null when the key never expires; exists false when absent. */
  | { readonly op: 'ttl'; readonly exists: boolean; readonly ttlMs: number | null };

export interface Failure {
  readonly code: ErrorCode;
  readonly message: string;
  readonly meta?: ErrorMeta;
}

export type Outcome =
  { readonly ok: true; readonly result: Result } | ({ readonly ok: false } & Failure);

/** Who sent a write and which of its writes this is: a retry carries the same pair. */
export interface IdempotencyId {
  readonly clientId: string;
  readonly seq: number;
  /**
   * The client has had the answers to all its writes below this sequence number, so their
   * remembered results may go: they will never be retried. This is what keeps the table as
   * small as the client's writes in flight (Raft dissertation 6.3; RIFL).
   */
  readonly ackedBelow?: number;
}

/**
 * The effect of an executed write, in the order it happened. Applying the same mutations in
 * the same order to an equal store gives an equal store. `seq` is the partition sequence
 * number the mutation was assigned; it is strictly increasing within a partition.
 */
export type Mutation =
  | {
      readonly kind: 'put';
      readonly seq: number;
      readonly key: string;
      readonly value: Uint8Array;
      readonly expiresAt: ExpiresAt;
    }
  | {
      readonly kind: 'expiry';
      readonly seq: number;
      readonly key: string;
      readonly expiresAt: ExpiresAt;
    }
  | { readonly kind: 'delete'; readonly seq: number; readonly key: string }
  /** A remembered result of an idempotent write, so that a retry on a backup-turned-primary is answered, not re-applied. */
  | {
      readonly kind: 'result';
      readonly seq: number;
      readonly id: IdempotencyId;
      readonly outcome: Outcome;
      /**
       * The primary's `now` when it remembered the result. Backups age idle clients by this
       * clock, never their own, so they forget exactly what the primary forgets.
       */
      readonly at: number;
    };

export interface Execution {
  readonly outcome: Outcome;
  /** Empty for reads, for failed writes, and for answered retries. */
  readonly mutations: readonly Mutation[];
}

/** One entry as a snapshot carries it: key, encoded value, version, absolute expiry (0: never). */
export type SnapshotEntry = readonly [
  key: string,
  value: Uint8Array,
  version: number,
  expiresAt: ExpiresAt,
];

/** One client's remembered idempotency results as a snapshot carries them (idempotency.ts). */
export interface SnapshotClient {
  readonly clientId: string;
  /** The `at` of the client's latest remembered write. */
  readonly lastSeenAt: number;
  /** Sequence numbers at or below this may have been forgotten; -1 while nothing was. */
  readonly forgottenUpTo: number;
  /** [client request seq, outcome], any order. */
  readonly results: readonly (readonly [number, Outcome])[];
}

/**
 * A store's whole state at `lastSeq` as plain records: what `PartitionStore.snapshotState()`
 * returns and `PartitionStore.load()` takes. `remembered` is in the table's order, least
 * recently seen first; that order is part of the state (it decides who is forgotten first).
 */
export interface StoreSnapshot {
  readonly lastSeq: number;
  readonly entries: readonly SnapshotEntry[];
  readonly remembered: readonly SnapshotClient[];
}
