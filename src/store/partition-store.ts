/**
 * One partition's entries, as a pure state machine: a primary executes commands, a backup
 * applies mutations, and neither reads a clock, a socket or a random source.
 *
 * The store has two doors, and the difference between them is the heart of replication
 * (DESIGN.md section 4):
 *
 *  1. `execute(command, now, id)` is the primary's door. It checks the request, evaluates
 *     conditions (ifVersion, ifAbsent, cas, patch) against the current state, turns relative
 *     TTLs into absolute expiry times with the primary's `now`, and either refuses (an outcome
 *     with a code, and nothing changed) or changes the state and returns the mutations that
 *     describe the change. Every decision that could come out differently elsewhere (a
 *     condition, a clock, a patch) is made here, once.
 *  2. `apply(mutations)` is the backup's door. It replays the primary's mutations verbatim: a
 *     put carries the whole new value and its absolute expiry, an expiry change carries the
 *     new time, a delete names the key. There is nothing left to evaluate, so a backup that
 *     applies the same mutations in the same order holds the same entries, versions, expiry
 *     times and remembered idempotency results as its primary. It never refuses for memory
 *     either: diverging from the primary would be worse than passing the limit.
 *
 * Versions. The partition numbers its mutations 1, 2, 3... (`lastSeq`), and an entry's
 * version is the number of the put that last changed its value. Versions therefore only grow,
 * per key and across a delete and a re-create, so `ifVersion` can never match a different
 * value that happens to carry an old number (no ABA). A touch changes the expiry, not the
 * value, so it keeps the version.
 *
 * Expiry. An entry expires at an absolute time (0: never). An entry whose time has come is
 * invisible to every command from that moment (the check is made on access, with `now`), and
 * a conditional write treats it as absent. It stays in memory until the primary's
 * `reclaimExpired` removes it and emits a delete for it: backups never expire anything on
 * their own clock, which may disagree with the primary's. An expiry heap (expiry-heap.ts)
 * finds the due entries without scanning the partition.
 *
 * Values are kept encoded (MessagePack bytes), as given: get and set never decode. Only cas
 * (comparing documents) and patch (changing fields) decode, on the primary. A kept value is
 * copied into the node's ValueArena (value-arena.ts), a slot in a large chunk rather than a
 * buffer of its own, and its slot is given back when the entry is replaced or removed. So
 * the store never keeps the caller's bytes (a slice of a network receive buffer cannot pin
 * it), and never hands out its own: a get answers with a copy, which cannot change under the
 * caller when the key is written again. A put mutation, which replication keeps until the
 * backups acknowledge it, carries the command's bytes, not the store's: the caller must not
 * change them afterwards (the runtime's are slices of a frame it read, never written again).
 *
 * Choices worth knowing:
 *  - `set` without ttlMs clears the expiry unless keepTtl (as Redis SET does); `cas` and
 *    `patch` without ttlMs keep it, because they change part of what is there, and a session
 *    must not become immortal by being updated.
 *  - A delete of an entry that has expired but is not reclaimed yet answers `deleted: false`
 *    and removes it (with a delete mutation): the write is there anyway, and it frees memory.
 *  - A write with an idempotency id is remembered with its outcome, success or a refusal
 *    other than OUT_OF_MEMORY (which changed nothing and may succeed later), and a `result`
 *    mutation carries it to the backups. So a refused write with an id yields that one
 *    mutation; without an id it yields none. See idempotency.ts.
 *  - `clear()` keeps `lastSeq`, so versions never repeat within one store object.
 *
 * Snapshots. A backup too far behind for the mutation stream gets the whole state instead
 * (replication/state-transfer.ts): `snapshotState()` copies it out as plain records at one
 * `lastSeq`, and `PartitionStore.load(options, snapshot)` builds a store that holds exactly
 * that: the same entries with their versions and expiry times, the same remembered results
 * with each client's lastSeenAt and forgottenUpTo, in the same order, and the same lastSeq.
 * Executing or applying the same mutations to both afterwards keeps them equal. Only the
 * expiry heap may differ: the loaded one has no stale nodes, which changes when it compacts
 * but never what it reclaims or in which order.
 */
import { AssertionError, assert, unreachable } from '../core/assert.js';
import { ErrorCode } from '../core/errors.js';
import type { ErrorMeta } from '../core/errors.js';
import { utf8ByteLength } from '../core/keys.js';
import {
  idempotencyClientIdleMs,
  idempotencyResultsPerClientMax,
  keyBytesMaxDefault,
  partitionCountMax,
  valueBytesMaxCeiling,
  valueBytesMaxDefault,
} from '../core/limits.js';
import { decodeValue, encodeValueTransient } from '../core/value-codec.js';
import { ExpiryHeap } from './expiry-heap.js';
import {
  IdempotencyTable,
  idempotencyClientIdLengthMax,
  retryExpired,
  type RememberedClient,
} from './idempotency.js';
import { bytesEqual, isPlainObject, jsonEqual } from './json-equal.js';
import { ValueArena, copyOut } from './value-arena.js';
import { entryCostBytes, type MemoryBudget } from './memory.js';
import { applyPatch, preparePatch } from './patch.js';
import type {
  Command,
  EntryView,
  Execution,
  ExpiresAt,
  IdempotencyId,
  Mutation,
  Outcome,
  Result,
  SnapshotClient,
  SnapshotEntry,
  StoreSnapshot,
} from './types.js';

export interface PartitionStoreOptions {
  /** The partition this store holds; it appears in messages and is kept for the caller. */
  readonly partition: number;
  /** The node's memory budget, shared by all its partitions. */
  readonly budget: MemoryBudget;
  /** Largest key in UTF-8 bytes; default keyBytesMaxDefault (1 KiB). */
  readonly keyBytesMax?: number;
  /** Largest encoded value in bytes; default valueBytesMaxDefault (1 MiB), at most 64 MiB. */
  readonly valueBytesMax?: number;
  /** Remembered results per client; default idempotencyResultsPerClientMax (4,096). */
  readonly idempotencyResultsPerClientMax?: number;
  /** Milliseconds after which a silent client is forgotten; default 5 minutes. */
  readonly idempotencyClientIdleMs?: number;
  /** Where values are kept, shared by a node's partitions; default an arena of its own. */
  readonly arena?: ValueArena;
}

/**
 * Stale expiry-heap nodes tolerated beyond one per live TTL entry before compacting. A
 * compaction costs a pass over the heap, so a partition with few TTL entries should not pay
 * it every few touches; 1,024 nodes are about 16 KiB of arrays.
 */
const expiryHeapSlackNodes = 1_024;

const noMutations: readonly Mutation[] = Object.freeze([]);

type Entry = EntryView;

type WriteCommand = Exclude<Command, { readonly op: 'get' | 'ttl' }>;

function isExpired(entry: Entry, now: number): boolean {
  return entry.expiresAt !== 0 && entry.expiresAt <= now;
}

function ok(result: Result): Outcome {
  return { ok: true, result };
}

function fail(code: ErrorCode, message: string, meta?: ErrorMeta): Outcome {
  return meta === undefined ? { ok: false, code, message } : { ok: false, code, message, meta };
}

function versionMismatch(message: string, currentVersion: number): Outcome {
  return fail(ErrorCode.VERSION_MISMATCH, message, { currentVersion });
}

/** An entry as a caller may keep it: its own copy of the value. */
function viewOf(entry: Entry): EntryView {
  return { value: copyOut(entry.value), version: entry.version, expiresAt: entry.expiresAt };
}

function positiveInteger(value: number | undefined): boolean {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

function checkOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export class PartitionStore {
  readonly partition: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  private readonly budget: MemoryBudget;
  private readonly arena: ValueArena;
  /** Entries whose values are views of arena slots: never handed out (see viewOf). */
  private readonly map = new Map<string, Entry>();
  private readonly heap = new ExpiryHeap();
  private readonly idempotency: IdempotencyTable;
  /** Entries with an expiry; the expiry heap holds at least one live node for each. */
  private ttlEntries = 0;
  private bytesHeld = 0;
  private seq = 0;
  private readonly isLiveNode = (expiresAt: number, key: string): boolean =>
    this.map.get(key)?.expiresAt === expiresAt;

  constructor(options: PartitionStoreOptions) {
    this.partition = checkOption('partition', options.partition, 0, partitionCountMax - 1);
    this.budget = options.budget;
    this.arena = options.arena ?? new ValueArena();
    this.keyBytesMax = checkOption(
      'keyBytesMax',
      options.keyBytesMax ?? keyBytesMaxDefault,
      1,
      Number.MAX_SAFE_INTEGER,
    );
    this.valueBytesMax = checkOption(
      'valueBytesMax',
      options.valueBytesMax ?? valueBytesMaxDefault,
      1,
      valueBytesMaxCeiling,
    );
    this.idempotency = new IdempotencyTable(
      checkOption(
        'idempotencyResultsPerClientMax',
        options.idempotencyResultsPerClientMax ?? idempotencyResultsPerClientMax,
        1,
        Number.MAX_SAFE_INTEGER,
      ),
      checkOption(
        'idempotencyClientIdleMs',
        options.idempotencyClientIdleMs ?? idempotencyClientIdleMs,
        0,
        Number.MAX_SAFE_INTEGER,
      ),
    );
  }

  /** Entries held, including expired ones not reclaimed yet. */
  get size(): number {
    return this.map.size;
  }

  /** Bytes charged to the budget for this partition's entries. */
  get bytes(): number {
    return this.bytesHeld;
  }

  /** The sequence number of the latest mutation made or applied. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Nodes in the expiry heap, live and stale; for metrics and tests of its bound. */
  get expiryHeapSize(): number {
    return this.heap.size;
  }

  /**
   * Every entry held, including expired ones that are not reclaimed yet: a state transfer
   * must copy them, since the primary will later replicate their deletes. The values are the
   * store's own views: read them before the store changes again (snapshotState copies).
   */
  entries(): IterableIterator<[string, EntryView]> {
    return this.map.entries();
  }

  /** The remembered idempotency results, by client, least recently seen first. */
  remembered(): IterableIterator<RememberedClient> {
    return this.idempotency.entries();
  }

  /**
   * The whole state at `lastSeq` as plain records, for a state transfer: every entry (expired
   * ones included, since the primary will replicate their deletes) and every remembered
   * client, least recently seen first. Values are copied out of the arena, whose slots later
   * writes reuse, and results out of the table's mutable maps, so later writes cannot reach
   * into the snapshot. Cost: a copy of every value, held while the transfer runs.
   */
  snapshotState(): StoreSnapshot {
    const entries: SnapshotEntry[] = [];
    for (const [key, entry] of this.map) {
      entries.push([key, copyOut(entry.value), entry.version, entry.expiresAt]);
    }
    const remembered: SnapshotClient[] = [];
    for (const client of this.idempotency.entries()) {
      remembered.push({
        clientId: client.clientId,
        lastSeenAt: client.lastSeenAt,
        forgottenUpTo: client.forgottenUpTo,
        results: [...client.results],
      });
    }
    return { lastSeq: this.seq, entries, remembered };
  }

  /**
   * A new store holding exactly `snapshot` (see "Snapshots" above). Its entries are charged
   * to the budget without asking, as a backup's applied mutations are: the primary already
   * holds them. The snapshot comes from our own primary, so a malformed one is a bug and is
   * asserted: versions in 1..lastSeq and distinct, keys distinct, and no more entries and
   * remembered results than lastSeq mutations could have made.
   */
  static load(options: PartitionStoreOptions, snapshot: StoreSnapshot): PartitionStore {
    const store = new PartitionStore(options);
    store.loadState(snapshot);
    return store;
  }

  private loadState(snapshot: StoreSnapshot): void {
    const { lastSeq, entries, remembered } = snapshot;
    const where = `partition ${this.partition}: snapshot at ${lastSeq}`;
    assert(Number.isSafeInteger(lastSeq) && lastSeq >= 0, () => `${where}: bad lastSeq`);
    let results = 0;
    for (const client of remembered) results += client.results.length;
    // Each live entry's version and each remembered result was a distinct mutation.
    assert(
      entries.length + results <= lastSeq,
      () =>
        `${where}: ${entries.length} entries and ${results} remembered results cannot come ` +
        `from ${lastSeq} mutations; the snapshot is not of one store`,
    );
    const versions = new Set<number>();
    for (const [key, value, version, expiresAt] of entries) {
      assert(
        typeof key === 'string' && key.length > 0 && !this.map.has(key),
        () => `${where}: key ${JSON.stringify(key)} is empty, not a string, or repeated`,
      );
      assert(value instanceof Uint8Array, () => `${where}: the value of ${key} is not bytes`);
      assert(
        Number.isSafeInteger(version) && version >= 1 && version <= lastSeq,
        () => `${where}: ${key} has version ${version}, outside 1..${lastSeq}`,
      );
      assert(!versions.has(version), () => `${where}: two entries at version ${version}`);
      versions.add(version);
      assert(
        expiresAt === 0 || (Number.isFinite(expiresAt) && expiresAt > 0),
        () => `${where}: ${key} expires at ${expiresAt}`,
      );
      const cost = entryCostBytes(utf8ByteLength(key), value.byteLength);
      this.put(key, value, expiresAt, version, cost, undefined);
    }
    this.idempotency.load(remembered);
    this.seq = lastSeq;
  }

  /** Drops every entry and remembered result and releases their memory; keeps lastSeq. */
  clear(): void {
    this.budget.charge(-this.bytesHeld);
    this.bytesHeld = 0;
    for (const entry of this.map.values()) this.arena.release(entry.value);
    this.map.clear();
    this.heap.clear();
    this.ttlEntries = 0;
    this.idempotency.clear();
  }

  // ---- the primary's door -------------------------------------------------------------

  execute(command: Command, now: number, id?: IdempotencyId): Execution {
    assert(Number.isFinite(now), 'execute: now must be a finite number of milliseconds');
    switch (command.op) {
      case 'get':
        return { outcome: this.get(command.key, now), mutations: noMutations };
      case 'ttl':
        return { outcome: this.ttl(command.key, now), mutations: noMutations };
      case 'set':
      case 'delete':
      case 'touch':
      case 'cas':
      case 'patch':
        return id === undefined ? this.write(command, now) : this.writeOnce(command, now, id);
      default:
        return {
          outcome: fail(
            ErrorCode.BAD_REQUEST,
            `unknown operation ${JSON.stringify((command as { op: unknown }).op)}`,
          ),
          mutations: noMutations,
        };
    }
  }

  private write(command: WriteCommand, now: number): Execution {
    const mutations: Mutation[] = [];
    return { outcome: this.writeInto(command, now, mutations), mutations };
  }

  /** A write with an idempotency id: answered from memory if seen, remembered if not. */
  private writeOnce(command: WriteCommand, now: number, id: IdempotencyId): Execution {
    const invalid = checkIdempotencyId(id);
    if (invalid !== null) return { outcome: invalid, mutations: noMutations };
    const recalled = this.idempotency.recall(id);
    if (recalled === retryExpired) {
      return {
        outcome: fail(
          ErrorCode.RETRY_EXPIRED,
          `the result of request ${id.seq} of client ${id.clientId} is no longer remembered; ` +
            'it may or may not have been applied',
        ),
        mutations: noMutations,
      };
    }
    if (recalled !== undefined) return { outcome: recalled, mutations: noMutations };
    const mutations: Mutation[] = [];
    const outcome = this.writeInto(command, now, mutations);
    if (outcome.ok || outcome.code !== ErrorCode.OUT_OF_MEMORY) {
      // A copy, so the table does not keep whatever else the caller's id object holds.
      const remembered: IdempotencyId =
        id.ackedBelow === undefined
          ? { clientId: id.clientId, seq: id.seq }
          : { clientId: id.clientId, seq: id.seq, ackedBelow: id.ackedBelow };
      this.idempotency.remember(remembered, outcome, now);
      mutations.push({ kind: 'result', seq: ++this.seq, id: remembered, outcome, at: now });
    }
    return { outcome, mutations };
  }

  private writeInto(command: WriteCommand, now: number, mutations: Mutation[]): Outcome {
    switch (command.op) {
      case 'set':
        return this.set(command, now, mutations);
      case 'delete':
        return this.delete(command, now, mutations);
      case 'touch':
        return this.touch(command, now, mutations);
      case 'cas':
        return this.cas(command, now, mutations);
      case 'patch':
        return this.patch(command, now, mutations);
      default:
        return unreachable(command, 'write command');
    }
  }

  private get(key: string, now: number): Outcome {
    const invalid = this.checkKeyQuickly(key);
    if (invalid !== null) return invalid;
    const entry = this.map.get(key);
    return ok({
      op: 'get',
      entry: entry === undefined || isExpired(entry, now) ? null : viewOf(entry),
    });
  }

  private ttl(key: string, now: number): Outcome {
    const invalid = this.checkKeyQuickly(key);
    if (invalid !== null) return invalid;
    const entry = this.live(key, now);
    if (entry === undefined) return ok({ op: 'ttl', exists: false, ttlMs: null });
    return ok({
      op: 'ttl',
      exists: true,
      ttlMs: entry.expiresAt === 0 ? null : entry.expiresAt - now,
    });
  }

  private set(
    command: Extract<Command, { op: 'set' }>,
    now: number,
    mutations: Mutation[],
  ): Outcome {
    const { key, value, ttlMs, keepTtl, ifVersion, ifAbsent } = command;
    const keyBytes = this.keyBytesOf(key);
    if (typeof keyBytes !== 'number') return keyBytes;
    const invalid =
      this.checkValue(value) ??
      checkTtl(ttlMs, false) ??
      checkIfVersion(ifVersion) ??
      (ttlMs !== undefined && keepTtl === true
        ? fail(ErrorCode.BAD_REQUEST, 'set: ttlMs and keepTtl exclude each other; pass one')
        : null);
    if (invalid !== null) return invalid;
    const old = this.map.get(key);
    const current = old === undefined || isExpired(old, now) ? undefined : old;
    const currentVersion = current?.version ?? 0;
    if (ifAbsent === true && current !== undefined) {
      return versionMismatch(`set: ${key} exists (ifAbsent)`, currentVersion);
    }
    if (ifVersion !== undefined && ifVersion !== currentVersion) {
      return versionMismatch(
        `set: ${key} is at version ${currentVersion}, not ${ifVersion}`,
        currentVersion,
      );
    }
    const expiresAt =
      ttlMs !== undefined ? now + ttlMs : keepTtl === true ? (current?.expiresAt ?? 0) : 0;
    return this.commitPut('set', key, keyBytes, value, expiresAt, old, mutations);
  }

  private delete(
    command: Extract<Command, { op: 'delete' }>,
    now: number,
    mutations: Mutation[],
  ): Outcome {
    const { key, ifVersion } = command;
    const keyBytes = this.keyBytesOf(key);
    if (typeof keyBytes !== 'number') return keyBytes;
    const invalid = checkIfVersion(ifVersion);
    if (invalid !== null) return invalid;
    const old = this.map.get(key);
    const current = old === undefined || isExpired(old, now) ? undefined : old;
    const currentVersion = current?.version ?? 0;
    if (ifVersion !== undefined && ifVersion !== currentVersion) {
      return versionMismatch(
        `delete: ${key} is at version ${currentVersion}, not ${ifVersion}`,
        currentVersion,
      );
    }
    if (old !== undefined) {
      this.remove(key, keyBytes, old);
      mutations.push({ kind: 'delete', seq: ++this.seq, key });
    }
    return ok({ op: 'delete', deleted: current !== undefined });
  }

  private touch(
    command: Extract<Command, { op: 'touch' }>,
    now: number,
    mutations: Mutation[],
  ): Outcome {
    const { key, ttlMs } = command;
    const invalid = this.checkKeyQuickly(key) ?? checkTtl(ttlMs, true);
    if (invalid !== null) return invalid;
    const current = this.live(key, now);
    if (current === undefined) return ok({ op: 'touch', found: false, expiresAt: 0 });
    const expiresAt = now + ttlMs;
    this.changeExpiry(key, current, expiresAt);
    mutations.push({ kind: 'expiry', seq: ++this.seq, key, expiresAt });
    return ok({ op: 'touch', found: true, expiresAt });
  }

  private cas(
    command: Extract<Command, { op: 'cas' }>,
    now: number,
    mutations: Mutation[],
  ): Outcome {
    const { key, expected, value, ttlMs } = command;
    const keyBytes = this.keyBytesOf(key);
    if (typeof keyBytes !== 'number') return keyBytes;
    const invalid =
      this.checkValue(value) ??
      checkTtl(ttlMs, false) ??
      (expected instanceof Uint8Array
        ? null
        : fail(ErrorCode.BAD_REQUEST, 'cas: expected must be an encoded value (Uint8Array)'));
    if (invalid !== null) return invalid;
    const old = this.map.get(key);
    const current = old === undefined || isExpired(old, now) ? undefined : old;
    if (current === undefined) return versionMismatch(`cas: ${key} does not exist`, 0);
    // Equal bytes are equal documents; only different bytes need decoding to compare.
    if (!bytesEqual(current.value, expected)) {
      const expectedDoc = decodeOrUndefined(expected);
      if (expectedDoc === undefined) {
        return fail(ErrorCode.BAD_REQUEST, 'cas: expected is not a valid encoded value');
      }
      const currentDoc = decodeOrUndefined(current.value);
      if (currentDoc === undefined) {
        return fail(ErrorCode.BAD_REQUEST, `cas: the value of ${key} is not a valid document`);
      }
      if (!jsonEqual(currentDoc, expectedDoc)) {
        return versionMismatch(`cas: ${key} holds another value`, current.version);
      }
    }
    const expiresAt = ttlMs !== undefined ? now + ttlMs : current.expiresAt;
    return this.commitPut('cas', key, keyBytes, value, expiresAt, old, mutations);
  }

  private patch(
    command: Extract<Command, { op: 'patch' }>,
    now: number,
    mutations: Mutation[],
  ): Outcome {
    const { key, ops, ttlMs, ifVersion, create, returnValue } = command;
    const keyBytes = this.keyBytesOf(key);
    if (typeof keyBytes !== 'number') return keyBytes;
    const invalid = checkTtl(ttlMs, false) ?? checkIfVersion(ifVersion);
    if (invalid !== null) return invalid;
    const prepared = preparePatch(ops);
    if (!('ops' in prepared)) return fail(prepared.code, prepared.message);
    const old = this.map.get(key);
    const current = old === undefined || isExpired(old, now) ? undefined : old;
    const currentVersion = current?.version ?? 0;
    if (ifVersion !== undefined && ifVersion !== currentVersion) {
      return versionMismatch(
        `patch: ${key} is at version ${currentVersion}, not ${ifVersion}`,
        currentVersion,
      );
    }
    if (current === undefined && create === false) {
      return fail(ErrorCode.NOT_FOUND, `patch: ${key} does not exist (create: false)`);
    }
    // The decoded graph is private to this call: a refused op leaves the stored bytes as they were.
    const doc = current === undefined ? {} : decodeOrUndefined(current.value);
    if (!isPlainObject(doc)) {
      return fail(ErrorCode.BAD_REQUEST, `patch: the value of ${key} is not an object`);
    }
    const refused = applyPatch(doc, prepared);
    if (refused !== null) return fail(refused.code, refused.message);
    let encoded: Uint8Array;
    try {
      // A view of the encoder's working buffer, which it never writes over: the arena copies
      // it, and the put mutation carries it.
      encoded = encodeValueTransient(doc);
    } catch {
      return fail(ErrorCode.BAD_REQUEST, `patch: the patched value of ${key} cannot be encoded`);
    }
    const expiresAt = ttlMs !== undefined ? now + ttlMs : (current?.expiresAt ?? 0);
    const outcome = this.commitPut('patch', key, keyBytes, encoded, expiresAt, old, mutations);
    if (!outcome.ok || returnValue !== true || outcome.result.op !== 'patch') return outcome;
    const kept = this.map.get(key);
    return ok({
      op: 'patch',
      version: outcome.result.version,
      ...(kept !== undefined && { value: copyOut(kept.value) }),
    });
  }

  /**
   * The common end of set, cas and patch: size and memory checks, then the put. `old` is the
   * entry being replaced, expired or not, since its memory is what the put frees.
   */
  private commitPut(
    op: 'set' | 'cas' | 'patch',
    key: string,
    keyBytes: number,
    value: Uint8Array,
    expiresAt: ExpiresAt,
    old: Entry | undefined,
    mutations: Mutation[],
  ): Outcome {
    if (value.byteLength > this.valueBytesMax) {
      return fail(
        ErrorCode.TOO_LARGE,
        `${op}: the value of ${key} is ${value.byteLength} bytes, more than ${this.valueBytesMax}`,
        { limitBytes: this.valueBytesMax },
      );
    }
    const growth = this.growthBytes(keyBytes, value, old);
    if (!this.budget.fits(growth)) {
      return fail(
        ErrorCode.OUT_OF_MEMORY,
        `${op}: ${key} needs ${growth} more bytes; the node's memory limit ` +
          `(${this.budget.limitBytes} bytes) is reached`,
      );
    }
    const seq = ++this.seq;
    this.put(key, value, expiresAt, seq, growth, old);
    mutations.push({ kind: 'put', seq, key, value, expiresAt });
    return op === 'set'
      ? ok({ op: 'set', version: seq })
      : op === 'cas'
        ? ok({ op: 'cas', version: seq })
        : ok({ op: 'patch', version: seq });
  }

  // ---- the backup's door --------------------------------------------------------------

  /** Applies a primary's mutations verbatim, in order; never refuses. */
  apply(mutations: readonly Mutation[]): void {
    for (const mutation of mutations) {
      // Checked with an `if`, not assert(cond, () => ...): no closure per applied mutation.
      if (mutation.seq !== this.seq + 1) {
        throw new AssertionError(
          `partition ${this.partition}: mutation seq ${mutation.seq} applied after ${this.seq}; ` +
            'the replication stream must deliver every mutation once, in order',
        );
      }
      this.seq = mutation.seq;
      switch (mutation.kind) {
        case 'put': {
          const old = this.map.get(mutation.key);
          const keyBytes = utf8ByteLength(mutation.key);
          const growth = this.growthBytes(keyBytes, mutation.value, old);
          this.put(mutation.key, mutation.value, mutation.expiresAt, mutation.seq, growth, old);
          break;
        }
        case 'expiry': {
          const old = this.map.get(mutation.key);
          if (old === undefined) throw this.divergence(mutation.seq, mutation.key);
          this.changeExpiry(mutation.key, old, mutation.expiresAt);
          break;
        }
        case 'delete': {
          const old = this.map.get(mutation.key);
          if (old === undefined) throw this.divergence(mutation.seq, mutation.key);
          this.remove(mutation.key, utf8ByteLength(mutation.key), old);
          break;
        }
        case 'result':
          this.idempotency.remember(mutation.id, mutation.outcome, mutation.at);
          break;
        default:
          unreachable(mutation, 'mutation kind');
      }
    }
  }

  private divergence(seq: number, key: string): AssertionError {
    return new AssertionError(
      `partition ${this.partition}: mutation ${seq} changes ${key}, which this replica does ` +
        'not hold; it has diverged from its primary',
    );
  }

  // ---- expiry -------------------------------------------------------------------------

  /**
   * Removes up to `max` entries whose expiry is at or before `now`, earliest first, and
   * returns their deletes for the backups. Cost: O(log n) per node popped.
   */
  reclaimExpired(now: number, max: number): Mutation[] {
    assert(Number.isSafeInteger(max) && max >= 0, () => `reclaimExpired: bad max ${max}`);
    const mutations: Mutation[] = [];
    while (mutations.length < max && this.heap.peekExpiresAt() <= now) {
      const expiresAt = this.heap.peekExpiresAt();
      const key = this.heap.peekKey() as string;
      this.heap.pop();
      const entry = this.map.get(key);
      // A stale node: the entry is gone or its expiry moved since this node was pushed.
      if (entry === undefined || entry.expiresAt !== expiresAt) continue;
      this.remove(key, utf8ByteLength(key), entry);
      mutations.push({ kind: 'delete', seq: ++this.seq, key });
    }
    return mutations;
  }

  // ---- state changes shared by both doors ---------------------------------------------

  /** Keeps a copy of `value` (in the arena) and gives back the slot of the value replaced. */
  private put(
    key: string,
    value: Uint8Array,
    expiresAt: ExpiresAt,
    version: number,
    growthBytes: number,
    old: Entry | undefined,
  ): void {
    this.budget.charge(growthBytes);
    this.bytesHeld += growthBytes;
    this.map.set(key, { value: this.arena.store(value), version, expiresAt });
    if (old !== undefined) this.arena.release(old.value);
    this.trackExpiry(key, old === undefined ? 0 : old.expiresAt, expiresAt);
  }

  private changeExpiry(key: string, old: Entry, expiresAt: ExpiresAt): void {
    this.map.set(key, { value: old.value, version: old.version, expiresAt });
    this.trackExpiry(key, old.expiresAt, expiresAt);
  }

  private remove(key: string, keyBytes: number, old: Entry): void {
    const cost = entryCostBytes(keyBytes, old.value.byteLength);
    this.budget.charge(-cost);
    this.bytesHeld -= cost;
    this.map.delete(key);
    this.arena.release(old.value);
    if (old.expiresAt !== 0) this.ttlEntries--;
  }

  private trackExpiry(key: string, before: ExpiresAt, after: ExpiresAt): void {
    if (before !== 0) this.ttlEntries--;
    if (after === 0) return;
    this.ttlEntries++;
    // An unchanged expiry still has its node in the heap; only a new time needs one.
    if (after === before) return;
    this.heap.push(after, key);
    if (this.heap.size > 2 * this.ttlEntries + expiryHeapSlackNodes) {
      this.heap.retain(this.isLiveNode);
    }
  }

  private growthBytes(keyBytes: number, value: Uint8Array, old: Entry | undefined): number {
    const cost = entryCostBytes(keyBytes, value.byteLength);
    return old === undefined ? cost : cost - entryCostBytes(keyBytes, old.value.byteLength);
  }

  // ---- checks -------------------------------------------------------------------------

  private live(key: string, now: number): Entry | undefined {
    const entry = this.map.get(key);
    return entry === undefined || isExpired(entry, now) ? undefined : entry;
  }

  /** The key's UTF-8 length, or the refusal of a bad key. */
  private keyBytesOf(key: string): number | Outcome {
    if (typeof key !== 'string' || key.length === 0) {
      return fail(ErrorCode.BAD_REQUEST, 'the key must be a non-empty string');
    }
    const bytes = utf8ByteLength(key);
    if (bytes > this.keyBytesMax) return this.keyTooLarge(bytes);
    return bytes;
  }

  /** The same check without measuring short keys: reads and touch need no byte count. */
  private checkKeyQuickly(key: string): Outcome | null {
    if (typeof key !== 'string' || key.length === 0) {
      return fail(ErrorCode.BAD_REQUEST, 'the key must be a non-empty string');
    }
    // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
    if (key.length * 3 <= this.keyBytesMax) return null;
    const bytes = utf8ByteLength(key);
    return bytes > this.keyBytesMax ? this.keyTooLarge(bytes) : null;
  }

  private keyTooLarge(bytes: number): Outcome {
    return fail(
      ErrorCode.TOO_LARGE,
      `the key is ${bytes} UTF-8 bytes, more than keyBytesMax ${this.keyBytesMax}`,
      { limitBytes: this.keyBytesMax },
    );
  }

  private checkValue(value: Uint8Array): Outcome | null {
    if (!(value instanceof Uint8Array)) {
      return fail(ErrorCode.BAD_REQUEST, 'the value must be encoded (a Uint8Array)');
    }
    if (value.byteLength > this.valueBytesMax) {
      return fail(
        ErrorCode.TOO_LARGE,
        `the value is ${value.byteLength} bytes, more than valueBytesMax ${this.valueBytesMax}`,
        { limitBytes: this.valueBytesMax },
      );
    }
    return null;
  }
}

function checkTtl(ttlMs: number | undefined, required: boolean): Outcome | null {
  if (ttlMs === undefined && !required) return null;
  return positiveInteger(ttlMs)
    ? null
    : fail(
        ErrorCode.BAD_REQUEST,
        `ttlMs must be a positive integer number of milliseconds, got ${String(ttlMs)}`,
      );
}

function checkIfVersion(ifVersion: number | undefined): Outcome | null {
  return ifVersion === undefined || (Number.isSafeInteger(ifVersion) && ifVersion >= 0)
    ? null
    : fail(
        ErrorCode.BAD_REQUEST,
        `ifVersion must be a non-negative integer (0: only if absent), got ${String(ifVersion)}`,
      );
}

function checkIdempotencyId(id: IdempotencyId): Outcome | null {
  const valid =
    typeof id.clientId === 'string' &&
    id.clientId.length > 0 &&
    id.clientId.length <= idempotencyClientIdLengthMax &&
    Number.isSafeInteger(id.seq) &&
    id.seq >= 0 &&
    (id.ackedBelow === undefined ||
      (Number.isSafeInteger(id.ackedBelow) && id.ackedBelow <= id.seq));
  return valid
    ? null
    : fail(
        ErrorCode.BAD_REQUEST,
        `an idempotency id needs a clientId of 1 to ${idempotencyClientIdLengthMax} ` +
          'characters, a non-negative integer seq, and ackedBelow at most seq',
      );
}

function decodeOrUndefined(bytes: Uint8Array): unknown {
  try {
    return decodeValue(bytes);
  } catch {
    return undefined;
  }
}
