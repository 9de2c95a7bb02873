/**
 * Validation of replication messages (replication/partition-replica.ts) as they arrive from
 * another node.
 *
 * Why here. A PartitionReplica trusts the shape of what `receive` is given, and its store
 * asserts invariants (mutation seqs follow one another, a snapshot's versions lie in
 * 1..seq, its keys and clients are not repeated) because inside one process a violation is a
 * bug worth crashing for. A message from the network is not inside one process, so it passes
 * through `parseReplicationMessage` first. Like `parseRaftMessage` (raft-messages.ts) it never
 * throws on bad input: it returns `{ bad: true, reason }` with a reason naming the message
 * type and the field, and the node drops the message. Dropping is always safe here: the
 * primary resends appends and snapshot chunks on its tick.
 *
 * What is checked, per `type`:
 *
 * 1. The value is a plain map and `type` is one of append, ack, snapshot, snapshotAck,
 *    leasePing, leaseEcho (the last two: a clock reading `sentAt` and a table `version`; a
 *    ping may carry an `echo`, another clock reading), or
 *    batch: `messages`, an array of 1 to `replicationBatchMessagesMax` messages of the other
 *    types (no batch in a batch), each checked as it would be alone. One bad message makes
 *    the whole batch bad, its reason prefixed with `batch: messages[i]: `; dropping the batch
 *    is as safe as dropping its messages one by one.
 * 2. partition, epoch, seq, fromSeq and chunk are non-negative safe integers; an ack's
 *    lastEpoch and a snapshotAck's chunk may also be -1 ("unknown", "start over"); an ack's
 *    lastEpoch is at most its epoch. Flags are booleans, optional ones absent or booleans.
 * 3. An epoch history has at most `replicationHistoryMax` segments, epochs and start seqs
 *    strictly increasing (as EpochHistory keeps them, and asserts), no epoch past the
 *    message's own.
 * 4. An append has fromSeq >= 1 and at most `replicationMutationsMax` mutations whose seqs
 *    run fromSeq, fromSeq+1, ... without gaps (the backup computes the last seq as
 *    fromSeq + length - 1, and its store asserts each seq follows the one before). Each
 *    mutation is a put, expiry, delete or result with exactly its fields: keys are 1 to
 *    `replicationKeyLengthMax` characters, values binary, expiries and clock readings
 *    non-negative finite numbers, a result's idempotency id and outcome well formed.
 * 5. An outcome is `{ ok: true, result }` with a result of a known op and its fields, or
 *    `{ ok: false, code, message, meta? }` with a known ErrorCode.
 * 6. A snapshot chunk carries at most `replicationChunkItemsMax` entries and as many
 *    remembered clients. An entry is [key, value, version, expiresAt] with version in 1..seq;
 *    keys and versions are not repeated within the chunk. A client has an id of 1 to
 *    `replicationIdLengthMax` characters (not repeated within the chunk, least recently seen
 *    first), forgottenUpTo >= -1, and 1 to `replicationResultsPerClientMax` results whose
 *    seqs lie above forgottenUpTo without repeats.
 *
 * Binary values of the map form are copied out of the frame buffer (`new Uint8Array(view)`);
 * those of the compact form below are views of the frame, which the receiver copies if it
 * keeps them. Only own properties are read, and every map in the result is a fresh object
 * holding only the fields of its type.
 *
 * What is not checked: anything that needs the receiver's state, such as whether keys or
 * clients repeat across the chunks of one transfer, or whether the epoch is current. That is
 * the replica's business.
 *
 * The compact form
 * ----------------
 * The stream's hot messages (append, ack, lease ping and echo) travel in a compact form:
 * positional arrays with small-integer tags instead of maps with string keys. A replicated
 * write is two mutations (the put and its remembered result), and as maps they cost the
 * sender a dozen key strings to encode and the receiver a dozen keys to decode, intern and
 * look up; as arrays they are numbers, the key, the value and the client id. What a node
 * sends a peer (`toWire`) is always a list of messages, one frame for a whole batch:
 *
 *   [message, ...]                               1 to replicationBatchMessagesMax of them
 *   append:     [1, partition, epoch, fromSeq, history, mutations]
 *                 history: [epoch, startSeq, epoch, startSeq, ...] (flat pairs)
 *                 mutations: the mutations' fields one after the other, each led by its
 *                 kind; their seqs are implied (fromSeq, fromSeq+1, ...), so cannot gap:
 *                   put    0, key, value, expiresAt
 *                   expiry 1, key, expiresAt
 *                   delete 2, key
 *                   result 3, clientId, seq, ackedBelow (-1: none), at, outcome...
 *                 where outcome is 0, version (set), 1, version (cas), 2, version (a patch
 *                 answered without its value), or 3, followed by the outcome as a map (any
 *                 other outcome, read as in point 5 above)
 *   ack:        [2, partition, epoch, seq, lastEpoch, flags]  flags: 1 behind, 2 needSnapshot
 *   leasePing:  [4, sentAt, version] or [4, sentAt, version, echo] (leases.ts)
 *   leaseEcho:  [5, sentAt, version]
 *   snapshot, snapshotAck: the map form above (a chunk is large and rare: keys cost nothing)
 *
 * A map in the list is read as the map form, so either form of any message is accepted; the
 * checks are the same, field by field, and a reason names the field the same way
 * (`append: mutations[3].key must be ...`). A list of one message parses to that message,
 * a longer one to a batch.
 */
import { isErrorCode, type ErrorMeta } from '../core/errors.js';
import type { EpochStart } from '../replication/replication-log.js';
import type { ReplicationMessage } from '../replication/partition-replica.js';
import type { LeaseMessage } from '../replication/leases.js';

/** What one data plane sends another: a partition's replication stream, or lease traffic. */
export type PeerSingleMessage = ReplicationMessage | LeaseMessage;

/**
 * Several messages for one destination in one frame: a flush's appends to one backup for
 * every partition, or a backup's acks to one primary (DESIGN.md section 4: the stream is
 * batched per destination node). The receiver handles them in order, as if they had come
 * one by one.
 */
export interface PeerBatchMessage {
  readonly type: 'batch';
  readonly messages: readonly PeerSingleMessage[];
}

export type PeerDataMessage = PeerSingleMessage | PeerBatchMessage;
import type {
  EntryView,
  IdempotencyId,
  Mutation,
  Outcome,
  Result,
  SnapshotClient,
  SnapshotEntry,
} from '../store/types.js';
import { isPlainMap, isUint, type Fields } from '../core/shape.js';

/** Client ids and error hints: names chosen by people or programs; 256 is generous. */
export const replicationIdLengthMax = 256;

/** Keys, in UTF-16 code units: 64 KiB, far above any configured key limit. */
export const replicationKeyLengthMax = 64 * 1024;

/** An error's message text, in characters. */
export const replicationErrorMessageLengthMax = 64 * 1024;

/** Mutations in one append; a primary sends at most `appendMutationsMax` (1,024 by default). */
export const replicationMutationsMax = 100_000;

/** Entries, and separately remembered clients, in one snapshot chunk (256 by default). */
export const replicationChunkItemsMax = 100_000;

/** Remembered results of one client in a snapshot (4,096 by default). */
export const replicationResultsPerClientMax = 100_000;

/** Segments of an epoch history; a replica remembers 64. */
export const replicationHistoryMax = 1_024;

/**
 * Messages in one batch. A sender batches at most 4,096 (data-plane.ts); this is the same
 * far-above-it ceiling as the others.
 */
export const replicationBatchMessagesMax = 100_000;

/** Why a value is not a replication message. */
export interface BadReplicationMessage {
  readonly bad: true;
  /** A sentence naming the message type and the field, e.g. "append: mutations[2].seq ...". */
  readonly reason: string;
}

class FieldError extends Error {}

/** A map as MessagePack decodes one: a plain object, not an array, a Date or a class. */

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function fail(context: string, path: string, expected: string): never {
  throw new FieldError(`${context}: ${path} must be ${expected}`);
}

/**
 * Where a value sits: its parent and the step from there. The path string is built only when
 * a field fails, not for every field read (a replicated write has about twenty).
 */
interface At {
  readonly path: string;
}

function stepFrom(parent: At | null, step: string | number): string {
  const base = parent === null ? '' : parent.path;
  if (typeof step === 'number') return `${base}[${step}]`;
  return base === '' ? step : `${base}.${step}`;
}

/** Reads one value at a path; `context` is the message type. */
class Reader implements At {
  constructor(
    readonly context: string,
    private readonly parent: At | null,
    private readonly step: string | number,
    readonly value: unknown,
  ) {}

  get path(): string {
    return stepFrom(this.parent, this.step);
  }

  fail(expected: string): never {
    return fail(this.context, this.path, expected);
  }

  uint(): number {
    if (!isUint(this.value)) this.fail('a non-negative integer');
    return withoutNegativeZero(this.value);
  }

  /** A safe integer from `min` (-1 or more) to `max`. */
  int(min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.value;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.fail(
        max === Number.MAX_SAFE_INTEGER
          ? `an integer of at least ${min}`
          : `an integer from ${min} to ${max}`,
      );
    }
    return withoutNegativeZero(v);
  }

  /** A clock reading or an absolute expiry: milliseconds, 0 or more. */
  time(): number {
    if (!isTime(this.value)) this.fail('a non-negative finite number');
    return withoutNegativeZero(this.value);
  }

  bool(): boolean {
    if (typeof this.value !== 'boolean') this.fail('a boolean');
    return this.value;
  }

  string(min: number, max: number): string {
    const v = this.value;
    if (typeof v !== 'string' || v.length < min || v.length > max) {
      this.fail(
        min === 0
          ? `a string of at most ${max} characters`
          : `a string of ${min} to ${max} characters`,
      );
    }
    return v;
  }

  /** Binary, copied out of the frame buffer into a Uint8Array of its own. */
  bytes(): Uint8Array {
    if (!(this.value instanceof Uint8Array)) this.fail('binary (a Uint8Array)');
    return new Uint8Array(this.value);
  }

  map(): MapReader {
    if (!isPlainMap(this.value)) this.fail('a map');
    return new MapReader(this.context, this, this.value);
  }

  array(max: number): readonly unknown[] {
    const v = this.value;
    if (!Array.isArray(v)) this.fail('an array');
    if (v.length > max) this.fail(`an array of at most ${max} items, not ${v.length}`);
    return v as readonly unknown[];
  }

  /** Item `i` of an array read with `array()`. */
  item(items: readonly unknown[], i: number): Reader {
    return new Reader(this.context, this, i, items[i]);
  }
}

class MapReader implements At {
  constructor(
    private readonly context: string,
    /** The reader of this map's own value; null for a message. */
    private readonly owner: At | null,
    private readonly fields: Fields,
  ) {}

  get path(): string {
    return this.owner === null ? '' : this.owner.path;
  }

  /** Own properties only: an inherited field never counts as sent. */
  has(name: string): boolean {
    return Object.hasOwn(this.fields, name) && this.fields[name] !== undefined;
  }

  at(name: string): Reader {
    const value = Object.hasOwn(this.fields, name) ? this.fields[name] : undefined;
    return new Reader(this.context, this, name, value);
  }

  fail(name: string, expected: string): never {
    return this.at(name).fail(expected);
  }
}

// ---- shared parts ---------------------------------------------------------------------------

function readKey(r: Reader): string {
  return r.string(1, replicationKeyLengthMax);
}

function readHistory(m: MapReader, messageEpoch: number): EpochStart[] {
  const r = m.at('history');
  const raw = r.array(replicationHistoryMax);
  const out: EpochStart[] = [];
  for (let i = 0; i < raw.length; i++) {
    const h = r.item(raw, i).map();
    const epoch = h.at('epoch').int(0, messageEpoch);
    const startSeq = h.at('startSeq').uint();
    const before = out[i - 1];
    if (before !== undefined) {
      if (epoch <= before.epoch) h.fail('epoch', `greater than the one before, ${before.epoch}`);
      if (startSeq <= before.startSeq) {
        h.fail('startSeq', `greater than the one before, ${before.startSeq}`);
      }
    }
    out.push({ epoch, startSeq });
  }
  return out;
}

function readEntryView(r: Reader): EntryView | null {
  if (r.value === null) return null;
  const m = r.map();
  return {
    value: m.at('value').bytes(),
    version: m.at('version').uint(),
    expiresAt: m.at('expiresAt').time(),
  };
}

const resultOps = ['get', 'set', 'delete', 'touch', 'cas', 'patch', 'ttl'] as const;

function readResult(m: MapReader): Result {
  const op = m.at('op').value;
  switch (op) {
    case 'get':
      return { op, entry: readEntryView(m.at('entry')) };
    case 'set':
    case 'cas':
      return { op, version: m.at('version').uint() };
    case 'delete':
      return { op, deleted: m.at('deleted').bool() };
    case 'touch':
      return { op, found: m.at('found').bool(), expiresAt: m.at('expiresAt').time() };
    case 'patch': {
      const version = m.at('version').uint();
      return m.has('value') ? { op, version, value: m.at('value').bytes() } : { op, version };
    }
    case 'ttl': {
      const exists = m.at('exists').bool();
      const t = m.at('ttlMs');
      return { op, exists, ttlMs: t.value === null ? null : t.time() };
    }
    default:
      return m.fail('op', `one of ${resultOps.join(', ')}`);
  }
}

function readMeta(m: MapReader): ErrorMeta {
  const meta: ErrorMeta = {};
  if (m.has('partition')) meta.partition = m.at('partition').uint();
  if (m.has('epoch')) meta.epoch = m.at('epoch').uint();
  if (m.has('hint')) meta.hint = m.at('hint').string(0, replicationIdLengthMax);
  if (m.has('currentVersion')) meta.currentVersion = m.at('currentVersion').uint();
  if (m.has('limitBytes')) meta.limitBytes = m.at('limitBytes').uint();
  if (m.has('inDoubt')) meta.inDoubt = m.at('inDoubt').bool();
  return meta;
}

function readOutcome(r: Reader): Outcome {
  const m: MapReader = r.map();
  const ok = m.at('ok').bool();
  if (ok) return { ok, result: readResult(m.at('result').map()) };
  const code = m.at('code').value;
  if (!isErrorCode(code)) m.fail('code', 'a known error code');
  const message = m.at('message').string(0, replicationErrorMessageLengthMax);
  return m.has('meta')
    ? { ok, code, message, meta: readMeta(m.at('meta').map()) }
    : { ok, code, message };
}

function readIdempotencyId(m: MapReader): IdempotencyId {
  const clientId = m.at('clientId').string(1, replicationIdLengthMax);
  const seq = m.at('seq').uint();
  if (!m.has('ackedBelow')) return { clientId, seq };
  return { clientId, seq, ackedBelow: m.at('ackedBelow').int(0, seq) };
}

function readMutation(m: MapReader, seq: number): Mutation {
  const kind = m.at('kind').value;
  switch (kind) {
    case 'put':
      return {
        kind,
        seq,
        key: readKey(m.at('key')),
        value: m.at('value').bytes(),
        expiresAt: m.at('expiresAt').time(),
      };
    case 'expiry':
      return { kind, seq, key: readKey(m.at('key')), expiresAt: m.at('expiresAt').time() };
    case 'delete':
      return { kind, seq, key: readKey(m.at('key')) };
    case 'result':
      return {
        kind,
        seq,
        id: readIdempotencyId(m.at('id').map()),
        outcome: readOutcome(m.at('outcome')),
        at: m.at('at').time(),
      };
    default:
      return m.fail('kind', 'one of put, expiry, delete, result');
  }
}

function readMutations(m: MapReader, fromSeq: number): Mutation[] {
  const r = m.at('mutations');
  const raw = r.array(replicationMutationsMax);
  const out: Mutation[] = [];
  for (let i = 0; i < raw.length; i++) {
    const item = r.item(raw, i).map();
    const expected = fromSeq + i;
    const seq = item.at('seq').uint();
    if (seq !== expected) {
      item.fail('seq', `${expected}: mutations follow fromSeq ${fromSeq} without gaps`);
    }
    out.push(readMutation(item, seq));
  }
  return out;
}

function readSnapshotEntries(m: MapReader, snapshotSeq: number): SnapshotEntry[] {
  const r = m.at('entries');
  const raw = r.array(replicationChunkItemsMax);
  const out: SnapshotEntry[] = [];
  const keys = new Set<string>();
  const versions = new Set<number>();
  for (let i = 0; i < raw.length; i++) {
    const e = r.item(raw, i);
    const fields = e.array(4);
    if (fields.length !== 4) e.fail('an array [key, value, version, expiresAt]');
    const key = readKey(e.item(fields, 0));
    if (keys.has(key)) e.item(fields, 0).fail('a key not repeated in the chunk');
    const value = e.item(fields, 1).bytes();
    const version = e.item(fields, 2).int(1, snapshotSeq);
    if (versions.has(version)) e.item(fields, 2).fail('a version not repeated in the chunk');
    const expiresAt = e.item(fields, 3).time();
    keys.add(key);
    versions.add(version);
    out.push([key, value, version, expiresAt]);
  }
  return out;
}

function readClient(m: MapReader): SnapshotClient {
  const clientId = m.at('clientId').string(1, replicationIdLengthMax);
  const lastSeenAt = m.at('lastSeenAt').time();
  const forgottenUpTo = m.at('forgottenUpTo').int(-1);
  const r = m.at('results');
  const raw = r.array(replicationResultsPerClientMax);
  if (raw.length === 0) r.fail('a non-empty array');
  const results: (readonly [number, Outcome])[] = [];
  const seqs = new Set<number>();
  for (let i = 0; i < raw.length; i++) {
    const pair = r.item(raw, i);
    const fields = pair.array(2);
    if (fields.length !== 2) pair.fail('an array [seq, outcome]');
    const seqReader = pair.item(fields, 0);
    const seq = seqReader.int(forgottenUpTo + 1);
    if (seqs.has(seq)) seqReader.fail('a seq not repeated for this client');
    seqs.add(seq);
    results.push([seq, readOutcome(pair.item(fields, 1))]);
  }
  return { clientId, lastSeenAt, forgottenUpTo, results };
}

function readClients(m: MapReader): SnapshotClient[] {
  const r = m.at('remembered');
  const raw = r.array(replicationChunkItemsMax);
  const out: SnapshotClient[] = [];
  const ids = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const item = r.item(raw, i).map();
    const client = readClient(item);
    if (ids.has(client.clientId)) item.fail('clientId', 'a client id not repeated in the chunk');
    const before = out[i - 1];
    if (before !== undefined && client.lastSeenAt < before.lastSeenAt) {
      item.fail('lastSeenAt', `at least the one before, ${before.lastSeenAt} (oldest first)`);
    }
    ids.add(client.clientId);
    out.push(client);
  }
  return out;
}

// ---- messages -------------------------------------------------------------------------------

type MessageType = PeerSingleMessage['type'];

function optionalBool(m: MapReader, name: string): boolean | undefined {
  return m.has(name) ? m.at(name).bool() : undefined;
}

/** One reader per message type; the Record makes the compiler insist on all of them. */
const bodyReaders: Record<MessageType, (m: MapReader) => PeerSingleMessage> = {
  append: (m) => {
    const partition = m.at('partition').uint();
    const epoch = m.at('epoch').uint();
    const fromSeq = m.at('fromSeq').int(1);
    const history = readHistory(m, epoch);
    const mutations = readMutations(m, fromSeq);
    return { type: 'append', partition, epoch, fromSeq, history, mutations };
  },
  ack: (m) => {
    const partition = m.at('partition').uint();
    const epoch = m.at('epoch').uint();
    const seq = m.at('seq').uint();
    const lastEpoch = m.at('lastEpoch').int(-1, epoch);
    const behind = optionalBool(m, 'behind');
    const needSnapshot = optionalBool(m, 'needSnapshot');
    return {
      type: 'ack',
      partition,
      epoch,
      seq,
      lastEpoch,
      ...(behind !== undefined && { behind }),
      ...(needSnapshot !== undefined && { needSnapshot }),
    };
  },
  snapshot: (m) => {
    const partition = m.at('partition').uint();
    const epoch = m.at('epoch').uint();
    const seq = m.at('seq').uint();
    const chunk = m.at('chunk').uint();
    const last = m.at('last').bool();
    const entries = readSnapshotEntries(m, seq);
    const remembered = readClients(m);
    const history = readHistory(m, epoch);
    return { type: 'snapshot', partition, epoch, seq, chunk, last, entries, remembered, history };
  },
  snapshotAck: (m) => ({
    type: 'snapshotAck',
    partition: m.at('partition').uint(),
    epoch: m.at('epoch').uint(),
    seq: m.at('seq').uint(),
    chunk: m.at('chunk').int(-1),
  }),
  leasePing: (m) => {
    const sentAt = m.at('sentAt').time();
    const version = m.at('version').uint();
    if (!m.has('echo')) return { type: 'leasePing', sentAt, version };
    return { type: 'leasePing', sentAt, version, echo: m.at('echo').time() };
  },
  leaseEcho: (m) => ({
    type: 'leaseEcho',
    sentAt: m.at('sentAt').time(),
    version: m.at('version').uint(),
  }),
};

const singleTypeNames = Object.keys(bodyReaders).join(', ');
const messageTypeNames = `${singleTypeNames}, batch`;

function isMessageType(value: unknown): value is MessageType {
  return typeof value === 'string' && Object.hasOwn(bodyReaders, value);
}

function typeOf(raw: Fields): unknown {
  return Object.hasOwn(raw, 'type') ? raw['type'] : undefined;
}

/** A batch's messages, each read as it would be alone; the first bad one fails the batch. */
function readBatch(raw: Fields): PeerBatchMessage {
  const r = new MapReader('batch', null, raw).at('messages');
  const items = r.array(replicationBatchMessagesMax);
  if (items.length === 0) r.fail('a non-empty array');
  const messages: PeerSingleMessage[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const context = `batch: messages[${i}]`;
    if (!isPlainMap(item)) fail(context, 'the message', 'a map');
    const type = typeOf(item);
    if (!isMessageType(type)) fail(context, 'type', `one of ${singleTypeNames}`);
    messages.push(bodyReaders[type](new MapReader(`${context}: ${type}`, null, item)));
  }
  return { type: 'batch', messages };
}

// ---- the compact form ------------------------------------------------------------------

/** Message tags of the compact form. 3 is unused: a snapshot travels as a map. */
const CompactTag = { append: 1, ack: 2, leasePing: 4, leaseEcho: 5 } as const;
const MutationTag = { put: 0, expiry: 1, delete: 2, result: 3 } as const;
/** How a remembered outcome follows a result mutation's other fields. */
const OutcomeTag = { set: 0, cas: 1, patchVersion: 2, map: 3 } as const;
const AckFlag = { behind: 1, needSnapshot: 2 } as const;

/**
 * Fields a mutation may take in the compact form (a result with a map outcome has 7): bounds
 * the flat array before any of it is read.
 */
const compactMutationFieldsMax = 7;

function pushOutcome(out: unknown[], outcome: Outcome): void {
  if (outcome.ok) {
    const r = outcome.result;
    if (r.op === 'set') {
      out.push(OutcomeTag.set, r.version);
      return;
    }
    if (r.op === 'cas') {
      out.push(OutcomeTag.cas, r.version);
      return;
    }
    if (r.op === 'patch' && r.value === undefined) {
      out.push(OutcomeTag.patchVersion, r.version);
      return;
    }
  }
  out.push(OutcomeTag.map, outcome);
}

function pushMutation(out: unknown[], m: Mutation): void {
  switch (m.kind) {
    case 'put':
      out.push(MutationTag.put, m.key, m.value, m.expiresAt);
      return;
    case 'expiry':
      out.push(MutationTag.expiry, m.key, m.expiresAt);
      return;
    case 'delete':
      out.push(MutationTag.delete, m.key);
      return;
    case 'result':
      out.push(MutationTag.result, m.id.clientId, m.id.seq, m.id.ackedBelow ?? -1, m.at);
      pushOutcome(out, m.outcome);
      return;
  }
}

function compactOne(message: PeerSingleMessage): unknown {
  switch (message.type) {
    case 'append': {
      const history: number[] = [];
      for (const h of message.history) history.push(h.epoch, h.startSeq);
      const mutations: unknown[] = [];
      for (const m of message.mutations) pushMutation(mutations, m);
      return [
        CompactTag.append,
        message.partition,
        message.epoch,
        message.fromSeq,
        history,
        mutations,
      ];
    }
    case 'ack':
      return [
        CompactTag.ack,
        message.partition,
        message.epoch,
        message.seq,
        message.lastEpoch,
        (message.behind === true ? AckFlag.behind : 0) |
          (message.needSnapshot === true ? AckFlag.needSnapshot : 0),
      ];
    case 'leasePing':
      return message.echo === undefined
        ? [CompactTag.leasePing, message.sentAt, message.version]
        : [CompactTag.leasePing, message.sentAt, message.version, message.echo];
    case 'leaseEcho':
      return [CompactTag.leaseEcho, message.sentAt, message.version];
    case 'snapshot':
    case 'snapshotAck':
      return message;
  }
}

/**
 * What a node sends a peer for `message`: the compact form described at the top, a list of
 * messages (one for a single message). `parseReplicationMessage` reads it back.
 */
export function toWire(message: PeerDataMessage): unknown[] {
  if (message.type !== 'batch') return [compactOne(message)];
  const out: unknown[] = [];
  for (const m of message.messages) out.push(compactOne(m));
  return out;
}

/**
 * Where a compact field sits, for the reason of a refusal: the message's index in a list of
 * several (-1 when alone) and its type, and within it `base[n].field` (n = -1: `field`).
 * Reasons are built only when a check fails; reading a valid message builds no strings.
 */
interface Site {
  readonly m: number;
  readonly type: string;
}

function siteFail(site: Site, base: string, n: number, field: string, expected: string): never {
  const context = site.m < 0 ? site.type : `batch: messages[${site.m}]: ${site.type}`;
  const path = n < 0 ? field : field === '' ? `${base}[${n}]` : `${base}[${n}].${field}`;
  return fail(context, path, expected);
}

/**
 * -0 reads as 0. msgpackr writes -0 as the integer 0, so only a crafted float carries it;
 * kept, it would make a message that reads differently once sent on (as 0).
 */
function withoutNegativeZero(n: number): number {
  return n === 0 ? 0 : n;
}

function uintAt(site: Site, value: unknown, base: string, n: number, field: string): number {
  if (!isUint(value)) siteFail(site, base, n, field, 'a non-negative integer');
  return withoutNegativeZero(value);
}

function intAt(
  site: Site,
  value: unknown,
  base: string,
  n: number,
  field: string,
  min: number,
  max: number,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    siteFail(
      site,
      base,
      n,
      field,
      max === Number.MAX_SAFE_INTEGER
        ? `an integer of at least ${min}`
        : `an integer from ${min} to ${max}`,
    );
  }
  return withoutNegativeZero(value);
}

function timeAt(site: Site, value: unknown, base: string, n: number, field: string): number {
  if (!isTime(value)) siteFail(site, base, n, field, 'a non-negative finite number');
  return withoutNegativeZero(value);
}

function stringAt(
  site: Site,
  value: unknown,
  base: string,
  n: number,
  field: string,
  max: number,
): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > max) {
    siteFail(site, base, n, field, `a string of 1 to ${max} characters`);
  }
  return value;
}

/**
 * Binary, left where it is: a view of the frame. Unlike the map form, the compact form does
 * not copy values: the store copies what it keeps into its arena, and a backup's tail copies
 * what it keeps, so a copy here would be a second allocation per replicated write.
 */
function bytesAt(site: Site, value: unknown, base: string, n: number, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) siteFail(site, base, n, field, 'binary (a Uint8Array)');
  return value;
}

function arrayAt(site: Site, value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value)) siteFail(site, '', -1, field, 'an array');
  if (value.length > max) {
    siteFail(site, '', -1, field, `an array of at most ${max} items, not ${value.length}`);
  }
  return value as unknown[];
}

function readCompactHistory(site: Site, raw: unknown, messageEpoch: number): EpochStart[] {
  const flat = arrayAt(site, raw, 'history', 2 * replicationHistoryMax);
  if (flat.length % 2 !== 0) siteFail(site, '', -1, 'history', 'pairs of epoch and startSeq');
  const out: EpochStart[] = [];
  for (let i = 0; i < flat.length / 2; i++) {
    const epoch = intAt(site, flat[2 * i], 'history', i, 'epoch', 0, messageEpoch);
    const startSeq = uintAt(site, flat[2 * i + 1], 'history', i, 'startSeq');
    const before = out[i - 1];
    if (before !== undefined) {
      if (epoch <= before.epoch) {
        siteFail(site, 'history', i, 'epoch', `greater than the one before, ${before.epoch}`);
      }
      if (startSeq <= before.startSeq) {
        siteFail(site, 'history', i, 'startSeq', `greater than the one before, ${before.startSeq}`);
      }
    }
    out.push({ epoch, startSeq });
  }
  return out;
}

/** The outcome of mutation `n`, from f[j] on. */
function readCompactOutcome(site: Site, f: readonly unknown[], j: number, n: number): Outcome {
  const tag = f[j];
  if (tag === OutcomeTag.map) {
    // The rare outcomes (refusals, a patch's value, results of other ops): the map form.
    const context = site.m < 0 ? site.type : `batch: messages[${site.m}]: ${site.type}`;
    return readOutcome(new Reader(context, { path: `mutations[${n}]` }, 'outcome', f[j + 1]));
  }
  const op =
    tag === OutcomeTag.set
      ? 'set'
      : tag === OutcomeTag.cas
        ? 'cas'
        : tag === OutcomeTag.patchVersion
          ? 'patch'
          : siteFail(
              site,
              'mutations',
              n,
              'outcome',
              'an outcome tag: 0 (set), 1 (cas), 2 (patch), 3 (a map)',
            );
  const version = uintAt(site, f[j + 1], 'mutations', n, 'outcome.result.version');
  return { ok: true, result: { op, version } };
}

/** The flat mutations of a compact append; seqs follow fromSeq without gaps by construction. */
function readCompactMutations(site: Site, raw: unknown, fromSeq: number): Mutation[] {
  const f = arrayAt(site, raw, 'mutations', compactMutationFieldsMax * replicationMutationsMax);
  const out: Mutation[] = [];
  let j = 0;
  while (j < f.length) {
    const n = out.length;
    if (n === replicationMutationsMax) {
      siteFail(site, '', -1, 'mutations', `at most ${replicationMutationsMax} mutations`);
    }
    const seq = fromSeq + n;
    const M = 'mutations';
    switch (f[j]) {
      case MutationTag.put:
        out.push({
          kind: 'put',
          seq,
          key: stringAt(site, f[j + 1], M, n, 'key', replicationKeyLengthMax),
          value: bytesAt(site, f[j + 2], M, n, 'value'),
          expiresAt: timeAt(site, f[j + 3], M, n, 'expiresAt'),
        });
        j += 4;
        break;
      case MutationTag.expiry:
        out.push({
          kind: 'expiry',
          seq,
          key: stringAt(site, f[j + 1], M, n, 'key', replicationKeyLengthMax),
          expiresAt: timeAt(site, f[j + 2], M, n, 'expiresAt'),
        });
        j += 3;
        break;
      case MutationTag.delete:
        out.push({
          kind: 'delete',
          seq,
          key: stringAt(site, f[j + 1], M, n, 'key', replicationKeyLengthMax),
        });
        j += 2;
        break;
      case MutationTag.result: {
        const clientId = stringAt(site, f[j + 1], M, n, 'id.clientId', replicationIdLengthMax);
        const idSeq = uintAt(site, f[j + 2], M, n, 'id.seq');
        const ackedBelow = intAt(site, f[j + 3], M, n, 'id.ackedBelow', -1, idSeq);
        const at = timeAt(site, f[j + 4], M, n, 'at');
        const outcome = readCompactOutcome(site, f, j + 5, n);
        out.push({
          kind: 'result',
          seq,
          id: ackedBelow === -1 ? { clientId, seq: idSeq } : { clientId, seq: idSeq, ackedBelow },
          outcome,
          at,
        });
        j += 7;
        break;
      }
      default:
        siteFail(site, M, n, 'kind', 'one of 0 (put), 1 (expiry), 2 (delete), 3 (result)');
    }
  }
  return out;
}

function expectLength(site: Site, a: readonly unknown[], length: number, shape: string): void {
  if (a.length !== length) {
    siteFail(site, '', -1, 'the message', `an array of ${length} fields ${shape}`);
  }
}

/** Message `m` of a list (-1 when it is alone), in the compact form. */
function readCompactOne(m: number, a: readonly unknown[]): PeerSingleMessage {
  switch (a[0]) {
    case CompactTag.append: {
      const site: Site = { m, type: 'append' };
      expectLength(site, a, 6, '[1, partition, epoch, fromSeq, history, mutations]');
      const partition = uintAt(site, a[1], '', -1, 'partition');
      const epoch = uintAt(site, a[2], '', -1, 'epoch');
      const fromSeq = intAt(site, a[3], '', -1, 'fromSeq', 1, Number.MAX_SAFE_INTEGER);
      const history = readCompactHistory(site, a[4], epoch);
      const mutations = readCompactMutations(site, a[5], fromSeq);
      return { type: 'append', partition, epoch, fromSeq, history, mutations };
    }
    case CompactTag.ack: {
      const site: Site = { m, type: 'ack' };
      expectLength(site, a, 6, '[2, partition, epoch, seq, lastEpoch, flags]');
      const partition = uintAt(site, a[1], '', -1, 'partition');
      const epoch = uintAt(site, a[2], '', -1, 'epoch');
      const seq = uintAt(site, a[3], '', -1, 'seq');
      const lastEpoch = intAt(site, a[4], '', -1, 'lastEpoch', -1, epoch);
      const flags = intAt(site, a[5], '', -1, 'flags', 0, AckFlag.behind | AckFlag.needSnapshot);
      if (flags === 0) return { type: 'ack', partition, epoch, seq, lastEpoch };
      return {
        type: 'ack',
        partition,
        epoch,
        seq,
        lastEpoch,
        ...((flags & AckFlag.behind) !== 0 && { behind: true }),
        ...((flags & AckFlag.needSnapshot) !== 0 && { needSnapshot: true }),
      };
    }
    case CompactTag.leasePing: {
      const site: Site = { m, type: 'leasePing' };
      if (a.length !== 3 && a.length !== 4) {
        siteFail(
          site,
          '',
          -1,
          'the message',
          'an array [4, sentAt, version] or [4, sentAt, version, echo]',
        );
      }
      const sentAt = timeAt(site, a[1], '', -1, 'sentAt');
      const version = uintAt(site, a[2], '', -1, 'version');
      if (a.length === 3) return { type: 'leasePing', sentAt, version };
      return { type: 'leasePing', sentAt, version, echo: timeAt(site, a[3], '', -1, 'echo') };
    }
    case CompactTag.leaseEcho: {
      const site: Site = { m, type: 'leaseEcho' };
      expectLength(site, a, 3, '[5, sentAt, version]');
      return {
        type: 'leaseEcho',
        sentAt: timeAt(site, a[1], '', -1, 'sentAt'),
        version: uintAt(site, a[2], '', -1, 'version'),
      };
    }
    default:
      return fail(
        m < 0 ? 'message' : `batch: messages[${m}]`,
        'tag',
        'one of 1 (append), 2 (ack), 4 (leasePing), 5 (leaseEcho)',
      );
  }
}

/** A list in the compact form: each item an array (compact) or a map (the map form). */
function readCompactList(list: readonly unknown[]): PeerDataMessage {
  if (list.length === 0 || list.length > replicationBatchMessagesMax) {
    fail('message', 'the list', `an array of 1 to ${replicationBatchMessagesMax} messages`);
  }
  const alone = list.length === 1;
  const messages: PeerSingleMessage[] = [];
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    // Alone, a message's reasons read as the map form's do; in a batch, as a batch's do.
    if (Array.isArray(item)) {
      messages.push(readCompactOne(alone ? -1 : i, item));
      continue;
    }
    const where = alone ? 'message' : `batch: messages[${i}]`;
    if (!isPlainMap(item)) fail(where, 'the message', 'an array or a map');
    const type = typeOf(item);
    if (!isMessageType(type)) fail(where, 'type', `one of ${singleTypeNames}`);
    const context = alone ? type : `${where}: ${type}`;
    messages.push(bodyReaders[type](new MapReader(context, null, item)));
  }
  return alone ? messages[0]! : { type: 'batch', messages };
}

/**
 * Validates a decoded (MessagePack) value as a replication message, in the map form or the
 * compact form. Never throws on bad input. Returns a fresh object holding only the fields of
 * the message's type, with binary values copied.
 */
export function parseReplicationMessage(raw: unknown): PeerDataMessage | BadReplicationMessage {
  if (Array.isArray(raw)) {
    try {
      return readCompactList(raw);
    } catch (error) {
      if (error instanceof FieldError) return { bad: true, reason: error.message };
      throw error;
    }
  }
  if (!isPlainMap(raw)) {
    return { bad: true, reason: 'a replication message must be a map or a list of messages' };
  }
  const type = typeOf(raw);
  const batch = type === 'batch';
  if (!batch && !isMessageType(type)) {
    return { bad: true, reason: `message: type must be one of ${messageTypeNames}` };
  }
  try {
    return batch ? readBatch(raw) : bodyReaders[type](new MapReader(type, null, raw));
  } catch (error) {
    if (error instanceof FieldError) return { bad: true, reason: error.message };
    throw error;
  }
}

export function isBadReplicationMessage(
  value: PeerDataMessage | BadReplicationMessage,
): value is BadReplicationMessage {
  return 'bad' in value;
}

/** A report item: a partition's backup and the epoch it was seen in. */
export interface ReportItem {
  readonly partition: number;
  readonly node: string;
  readonly epoch: number;
}

/**
 * Reads a primary's report to the control-plane leader (which backups caught up, which
 * lag); null when it is malformed. Fresh objects only, like every parser here.
 */
export function parseReplicationReport(
  raw: unknown,
): { caughtUp: ReportItem[]; lagging: ReportItem[] } | null {
  if (!isPlainMap(raw)) return null;
  const list = (v: unknown): ReportItem[] | null => {
    if (!Array.isArray(v) || v.length > replicationChunkItemsMax) return null;
    const out: ReportItem[] = [];
    for (const item of v) {
      if (!isPlainMap(item)) return null;
      const { partition, node, epoch } = item;
      if (!isUint(partition) || !isUint(epoch)) return null;
      if (typeof node !== 'string' || node.length === 0 || node.length > replicationIdLengthMax) {
        return null;
      }
      out.push({ partition, node, epoch });
    }
    return out;
  };
  const caughtUp = list(raw['caughtUp']);
  const lagging = list(raw['lagging']);
  return caughtUp === null || lagging === null ? null : { caughtUp, lagging };
}
