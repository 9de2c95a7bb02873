import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createPackr } from '../../src/core/msgpack.js';
import { ErrorCode } from '../../src/core/errors.js';
import {
  isBadReplicationMessage,
  parseReplicationMessage,
  replicationChunkItemsMax,
  replicationHistoryMax,
  replicationIdLengthMax,
  replicationKeyLengthMax,
  replicationMutationsMax,
  replicationBatchMessagesMax,
  toWire,
  type PeerDataMessage,
} from '../../src/protocol/replication-messages.js';
import type { Effects, ReplicationMessage } from '../../src/replication/partition-replica.js';
import { assertSameState, Cluster, enc, setCmd } from '../replication/harness.js';
import { plainBytes } from './plain-bytes.js';

type Plain = Record<string, unknown>;

const packr = createPackr();

/** What the wire does to a message: MessagePack out and back in. */
function overTheWire(message: unknown): unknown {
  return packr.unpack(packr.pack(message));
}

function accept(raw: unknown): PeerDataMessage {
  const result = parseReplicationMessage(raw);
  assert.ok(!isBadReplicationMessage(result), `expected a message, got: ${JSON.stringify(result)}`);
  return result;
}

/** Asserts `raw` is refused with a reason matching `names` (the field's path). */
function refuse(raw: unknown, names: RegExp): string {
  const result = parseReplicationMessage(raw);
  assert.ok(
    isBadReplicationMessage(result),
    `expected a refusal matching ${names}, got a ${JSON.stringify(plainBytes(result))}`,
  );
  assert.match(result.reason, names);
  return result.reason;
}

/** Asserts the message survives the wire and validation unchanged. */
function roundTrips(message: PeerDataMessage): PeerDataMessage {
  const parsed = accept(overTheWire(message));
  assert.deepStrictEqual(plainBytes(parsed), plainBytes(message));
  return parsed;
}

const DELETE = Symbol('delete');
type Path = readonly (string | number)[];

/** A deep copy of `message` with the value at `path` replaced (DELETE removes it). */
function withValue(message: unknown, path: Path, value: unknown): Plain {
  const copy = structuredClone(message) as Plain;
  let node: Plain = copy;
  for (const step of path.slice(0, -1)) node = node[step] as Plain;
  const last = path[path.length - 1] as string | number;
  if (value === DELETE) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

// ---- hand-built messages covering every field --------------------------------------------

const append: ReplicationMessage = {
  type: 'append',
  partition: 3,
  epoch: 7,
  fromSeq: 10,
  history: [
    { epoch: 5, startSeq: 4 },
    { epoch: 7, startSeq: 11 },
  ],
  mutations: [
    { kind: 'put', seq: 10, key: 'user:1', value: enc({ name: 'ann' }), expiresAt: 0 },
    { kind: 'expiry', seq: 11, key: 'user:1', expiresAt: 1_700_000_060_000 },
    { kind: 'delete', seq: 12, key: 'user:2' },
    {
      kind: 'result',
      seq: 13,
      id: { clientId: 'client-a', seq: 4, ackedBelow: 2 },
      outcome: { ok: true, result: { op: 'set', version: 10 } },
      at: 1_700_000_000_000,
    },
    {
      kind: 'result',
      seq: 14,
      id: { clientId: 'client-b', seq: 0 },
      outcome: {
        ok: false,
        code: ErrorCode.VERSION_MISMATCH,
        message: 'version 3 expected, 4 found',
        meta: { currentVersion: 4, partition: 3, epoch: 7, hint: 'n1:7000', limitBytes: 10 },
      },
      at: 1_700_000_000_001,
    },
    {
      kind: 'result',
      seq: 15,
      id: { clientId: 'client-b', seq: 1 },
      outcome: { ok: false, code: ErrorCode.NOT_FOUND, message: 'no such key' },
      at: 1_700_000_000_002,
    },
  ],
};

/** One result of every op, as remembered outcomes in a snapshot's client. */
const everyResult = [
  { op: 'get', entry: null },
  { op: 'get', entry: { value: enc(1), version: 3, expiresAt: 0 } },
  { op: 'set', version: 5 },
  { op: 'delete', deleted: true },
  { op: 'touch', found: false, expiresAt: 0 },
  { op: 'cas', version: 6 },
  { op: 'patch', version: 7 },
  { op: 'patch', version: 8, value: enc({ a: 1 }) },
  { op: 'ttl', exists: true, ttlMs: null },
  { op: 'ttl', exists: true, ttlMs: 1500 },
] as const;

const snapshot: ReplicationMessage = {
  type: 'snapshot',
  partition: 3,
  epoch: 7,
  seq: 40,
  chunk: 2,
  last: true,
  entries: [
    ['a', enc('x'), 12, 0],
    ['b', enc([1, 2]), 40, 1_700_000_090_000],
  ],
  remembered: [
    {
      clientId: 'client-a',
      lastSeenAt: 1_700_000_000_000,
      forgottenUpTo: -1,
      results: everyResult.map((result, i) => [i, { ok: true, result }] as const),
    },
    {
      clientId: 'client-b',
      lastSeenAt: 1_700_000_000_005,
      forgottenUpTo: 9,
      results: [[10, { ok: false, code: ErrorCode.UNAVAILABLE, message: 'too few in sync' }]],
    },
  ],
  history: [{ epoch: 7, startSeq: 1 }],
};

const ack: ReplicationMessage = {
  type: 'ack',
  partition: 3,
  epoch: 7,
  seq: 12,
  lastEpoch: 5,
  behind: true,
  needSnapshot: false,
};

const snapshotAck: ReplicationMessage = {
  type: 'snapshotAck',
  partition: 3,
  epoch: 7,
  seq: 40,
  chunk: -1,
};

const samples: readonly ReplicationMessage[] = [
  append,
  ack,
  { type: 'ack', partition: 0, epoch: 1, seq: 0, lastEpoch: 0 },
  { type: 'ack', partition: 0, epoch: 1, seq: 9, lastEpoch: -1 },
  snapshot,
  snapshotAck,
  { type: 'snapshotAck', partition: 0, epoch: 1, seq: 0, chunk: 0 },
  { type: 'append', partition: 0, epoch: 1, fromSeq: 1, history: [], mutations: [] },
  {
    type: 'snapshot',
    partition: 0,
    epoch: 1,
    seq: 0,
    chunk: 0,
    last: false,
    entries: [],
    remembered: [],
    history: [],
  },
];

test('every hand-built message kind round-trips through MessagePack and validation', () => {
  for (const message of samples) roundTrips(message);
});

test('the result is fresh: extra keys are dropped and binary is copied out of the frame', () => {
  const frame = new Uint8Array([9, 9, 1, 2, 3, 9]);
  const view = frame.subarray(2, 5);
  const raw = {
    type: 'append',
    partition: 0,
    epoch: 1,
    fromSeq: 1,
    history: [{ epoch: 1, startSeq: 1, extra: true }],
    mutations: [{ kind: 'put', seq: 1, key: 'k', value: view, expiresAt: 0, junk: 1 }],
    junk: 'x',
  };
  const parsed = accept(raw);
  assert.ok(parsed.type === 'append');
  assert.deepEqual(Object.keys(parsed).sort(), [
    'epoch',
    'fromSeq',
    'history',
    'mutations',
    'partition',
    'type',
  ]);
  assert.deepEqual(parsed.history, [{ epoch: 1, startSeq: 1 }]);
  const put = parsed.mutations[0];
  assert.ok(put !== undefined && put.kind === 'put');
  assert.deepEqual(Object.keys(put).sort(), ['expiresAt', 'key', 'kind', 'seq', 'value']);
  assert.notEqual(put.value.buffer, frame.buffer);
  frame.fill(0);
  assert.deepEqual(Array.from(put.value), [1, 2, 3]);

  const s = accept(overTheWire(snapshot));
  assert.ok(s.type === 'snapshot');
  const entry = s.entries[0];
  assert.ok(entry !== undefined);
  assert.equal(Object.getPrototypeOf(entry[1]), Uint8Array.prototype);
});

test('own properties only: an inherited or __proto__ field is never read', () => {
  const inherited = Object.create({ partition: 1 }) as Plain;
  Object.assign(inherited, { type: 'snapshotAck', epoch: 1, seq: 0, chunk: 0 });
  refuse(inherited, /must be a map/);
  const withProto = JSON.parse(
    '{"type":"snapshotAck","epoch":1,"seq":0,"chunk":0,"__proto__":{"partition":1}}',
  ) as unknown;
  refuse(withProto, /snapshotAck: partition must be a non-negative integer/);
  const nullProto = Object.assign(Object.create(null) as Plain, snapshotAck);
  accept(nullProto);
});

// ---- real messages, from replicas driven over a MessagePack wire -------------------------

/** A cluster whose every message crosses the wire and is validated before delivery. */
class WireCluster extends Cluster {
  readonly seen = new Set<ReplicationMessage['type']>();

  override collect(from: string, effects: Effects): void {
    const send = effects.send.map((s) => {
      this.seen.add(s.message.type);
      return { to: s.to, message: roundTrips(s.message) as ReplicationMessage };
    });
    super.collect(from, { ...effects, send });
  }
}

/**
 * Writes of every kind on A: sets with and without TTL from four clients (acknowledging
 * earlier results as they go), a delete, a touch and a refused conditional set.
 */
function writeEveryKind(c: Cluster): void {
  for (let i = 0; i < 30; i++) {
    c.execute('A', setCmd(`k${i}`, enc({ i }), i % 3 === 0 ? 60_000 : undefined), 'sync', {
      clientId: `client-${i % 4}`,
      seq: i,
      ...(i > 4 && { ackedBelow: i - 4 }),
    });
  }
  c.execute('A', { op: 'delete', key: 'k5' }, 'sync', { clientId: 'client-x', seq: 1 });
  c.execute('A', { op: 'touch', key: 'k6', ttlMs: 5_000 }, 'sync', { clientId: 'x', seq: 2 });
  c.execute('A', { op: 'set', key: 'k7', value: enc(0), ifVersion: 999 }, 'sync', {
    clientId: 'client-x',
    seq: 3,
  });
}

test('messages of real replicas round-trip, and replicas fed only parsed messages converge', () => {
  const c = new WireCluster(['A', 'B', 'C'], { logMutationsMax: 8, snapshotChunkEntriesMax: 4 });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B'], backups: ['B'] }, ['A', 'B']);
  c.deliverAll();
  writeEveryKind(c);
  c.execute(
    'A',
    {
      op: 'patch',
      key: 'doc',
      ops: [{ op: 'set', path: 'a.b', value: 1 }],
      create: true,
      returnValue: true,
    },
    'async',
    { clientId: 'client-x', seq: 4 },
  );
  c.settle();
  assertSameState(c.replica('A'), c.replica('B'));

  // C joins behind the backlog: a state transfer in chunks, then the stream.
  c.configure({ epoch: 2, primary: 'A', inSync: ['A', 'B'], backups: ['B', 'C'] });
  for (let i = 0; i < 5; i++) c.execute('A', setCmd(`late${i}`, enc(i)), 'async');
  c.settle();
  assertSameState(c.replica('A'), c.replica('C'));
  assertSameState(c.replica('A'), c.replica('B'));
  assert.deepEqual([...c.seen].sort(), ['ack', 'append', 'snapshot', 'snapshotAck']);
});

// ---- refusals, each naming its field ------------------------------------------------------

const long = (n: number): string => 'x'.repeat(n);

/** [message, path, bad value, expected reason]. */
const malformations: readonly [ReplicationMessage, Path, unknown, RegExp][] = [
  // the envelope
  [
    ack,
    ['type'],
    'nack',
    /message: type must be one of append, ack, snapshot, snapshotAck, leasePing, leaseEcho/,
  ],
  [ack, ['type'], DELETE, /message: type/],
  [ack, ['partition'], -1, /ack: partition must be a non-negative integer/],
  [ack, ['partition'], 1.5, /ack: partition /],
  [ack, ['partition'], '3', /ack: partition /],
  [ack, ['epoch'], 2 ** 53, /ack: epoch /],
  [ack, ['epoch'], DELETE, /ack: epoch /],
  [ack, ['seq'], NaN, /ack: seq /],
  [ack, ['lastEpoch'], -2, /ack: lastEpoch must be an integer from -1 to 7/],
  [ack, ['lastEpoch'], 8, /ack: lastEpoch /],
  [ack, ['behind'], 1, /ack: behind must be a boolean/],
  [ack, ['needSnapshot'], 'yes', /ack: needSnapshot must be a boolean/],
  [snapshotAck, ['chunk'], -2, /snapshotAck: chunk must be an integer of at least -1/],
  [snapshotAck, ['seq'], -1, /snapshotAck: seq /],
  [snapshotAck, ['epoch'], null, /snapshotAck: epoch /],
  // append
  [append, ['fromSeq'], 0, /append: fromSeq must be an integer of at least 1/],
  [append, ['history'], {}, /append: history must be an array/],
  [append, ['history', 0], 'e5', /append: history\[0\] must be a map/],
  [append, ['history', 0, 'epoch'], -1, /append: history\[0\]\.epoch /],
  [
    append,
    ['history', 0, 'epoch'],
    8,
    /append: history\[0\]\.epoch must be an integer from 0 to 7/,
  ],
  [append, ['history', 1, 'epoch'], 5, /append: history\[1\]\.epoch must be greater/],
  [append, ['history', 1, 'startSeq'], 4, /append: history\[1\]\.startSeq must be greater/],
  [append, ['history', 1, 'startSeq'], DELETE, /append: history\[1\]\.startSeq /],
  [append, ['mutations'], null, /append: mutations must be an array/],
  [append, ['mutations', 0, 'seq'], 11, /append: mutations\[0\]\.seq must be 10: .*fromSeq 10/],
  [append, ['mutations', 2], DELETE, /append: mutations\[2\]\.seq must be 12/],
  [append, ['mutations', 1], [], /append: mutations\[1\] must be a map/],
  [append, ['mutations', 0, 'kind'], 'set', /append: mutations\[0\]\.kind must be one of put/],
  [append, ['mutations', 0, 'key'], '', /append: mutations\[0\]\.key must be a string of 1 to/],
  [
    append,
    ['mutations', 0, 'key'],
    long(replicationKeyLengthMax + 1),
    /append: mutations\[0\]\.key /,
  ],
  [append, ['mutations', 0, 'value'], [1, 2], /append: mutations\[0\]\.value must be binary/],
  [append, ['mutations', 0, 'expiresAt'], -5, /mutations\[0\]\.expiresAt must be a non-negative/],
  [append, ['mutations', 0, 'expiresAt'], Infinity, /mutations\[0\]\.expiresAt /],
  [append, ['mutations', 1, 'expiresAt'], DELETE, /mutations\[1\]\.expiresAt /],
  [append, ['mutations', 2, 'key'], 7, /append: mutations\[2\]\.key /],
  [append, ['mutations', 3, 'id'], 'client-a', /mutations\[3\]\.id must be a map/],
  [append, ['mutations', 3, 'id', 'clientId'], '', /mutations\[3\]\.id\.clientId /],
  [
    append,
    ['mutations', 3, 'id', 'clientId'],
    long(replicationIdLengthMax + 1),
    /mutations\[3\]\.id\.clientId must be a string of 1 to 256/,
  ],
  [append, ['mutations', 3, 'id', 'seq'], -1, /mutations\[3\]\.id\.seq /],
  [append, ['mutations', 3, 'id', 'ackedBelow'], 5, /mutations\[3\]\.id\.ackedBelow .* 0 to 4/],
  [append, ['mutations', 3, 'at'], '2024', /mutations\[3\]\.at /],
  [append, ['mutations', 3, 'outcome'], null, /mutations\[3\]\.outcome must be a map/],
  [append, ['mutations', 3, 'outcome', 'ok'], 1, /mutations\[3\]\.outcome\.ok must be a boolean/],
  [append, ['mutations', 3, 'outcome', 'result'], DELETE, /outcome\.result must be a map/],
  [append, ['mutations', 3, 'outcome', 'result', 'op'], 'scan', /outcome\.result\.op must be/],
  [append, ['mutations', 3, 'outcome', 'result', 'version'], -1, /outcome\.result\.version /],
  [append, ['mutations', 4, 'outcome', 'code'], 'OOPS', /mutations\[4\]\.outcome\.code must be/],
  [append, ['mutations', 4, 'outcome', 'message'], 5, /mutations\[4\]\.outcome\.message /],
  [append, ['mutations', 4, 'outcome', 'meta'], 'm', /mutations\[4\]\.outcome\.meta must be/],
  [append, ['mutations', 4, 'outcome', 'meta', 'currentVersion'], -1, /meta\.currentVersion /],
  [append, ['mutations', 4, 'outcome', 'meta', 'hint'], 4, /meta\.hint /],
  [append, ['mutations', 4, 'outcome', 'meta', 'partition'], 'p', /meta\.partition /],
  [append, ['mutations', 4, 'outcome', 'meta', 'epoch'], 0.5, /meta\.epoch /],
  [append, ['mutations', 4, 'outcome', 'meta', 'limitBytes'], -1, /meta\.limitBytes /],
  // snapshot
  [snapshot, ['chunk'], -1, /snapshot: chunk must be a non-negative integer/],
  [snapshot, ['last'], 'true', /snapshot: last must be a boolean/],
  [snapshot, ['entries'], 'all', /snapshot: entries must be an array/],
  [snapshot, ['entries', 0], { key: 'a' }, /snapshot: entries\[0\] must be an array/],
  [snapshot, ['entries', 0, 3], DELETE, /snapshot: entries\[0\] must be an array \[key, value/],
  [snapshot, ['entries', 0, 0], '', /snapshot: entries\[0\]\[0\] must be a string/],
  [snapshot, ['entries', 1, 0], 'a', /snapshot: entries\[1\]\[0\] must be a key not repeated/],
  [snapshot, ['entries', 0, 1], 'x', /snapshot: entries\[0\]\[1\] must be binary/],
  [snapshot, ['entries', 0, 2], 0, /snapshot: entries\[0\]\[2\] must be an integer from 1 to 40/],
  [snapshot, ['entries', 0, 2], 41, /snapshot: entries\[0\]\[2\] /],
  [snapshot, ['entries', 1, 2], 12, /snapshot: entries\[1\]\[2\] must be a version not repeated/],
  [snapshot, ['entries', 0, 3], -1, /snapshot: entries\[0\]\[3\] /],
  [snapshot, ['remembered'], {}, /snapshot: remembered must be an array/],
  [snapshot, ['remembered', 0], 1, /snapshot: remembered\[0\] must be a map/],
  [snapshot, ['remembered', 0, 'clientId'], '', /remembered\[0\]\.clientId /],
  [snapshot, ['remembered', 1, 'clientId'], 'client-a', /remembered\[1\]\.clientId .*repeated/],
  [snapshot, ['remembered', 0, 'lastSeenAt'], -1, /remembered\[0\]\.lastSeenAt /],
  [snapshot, ['remembered', 1, 'lastSeenAt'], 0, /remembered\[1\]\.lastSeenAt must be at least/],
  [snapshot, ['remembered', 0, 'forgottenUpTo'], -2, /remembered\[0\]\.forgottenUpTo /],
  [snapshot, ['remembered', 1, 'results'], [], /remembered\[1\]\.results must be a non-empty/],
  [snapshot, ['remembered', 1, 'results', 0], 10, /remembered\[1\]\.results\[0\] must be an arr/],
  [snapshot, ['remembered', 1, 'results', 0, 0], 9, /results\[0\]\[0\] must be an integer of at/],
  [snapshot, ['remembered', 0, 'results', 1, 0], 0, /results\[1\]\[0\] must be a seq not repeat/],
  [snapshot, ['remembered', 0, 'results', 1, 1], null, /results\[1\]\[1\] must be a map/],
  [snapshot, ['remembered', 0, 'results', 0, 1, 'result', 'entry'], 5, /result\.entry must be/],
  [
    snapshot,
    ['remembered', 0, 'results', 1, 1, 'result', 'entry', 'value'],
    'v',
    /result\.entry\.value must be binary/,
  ],
  [snapshot, ['remembered', 0, 'results', 3, 1, 'result', 'deleted'], 0, /result\.deleted /],
  [snapshot, ['remembered', 0, 'results', 4, 1, 'result', 'found'], null, /result\.found /],
  [snapshot, ['remembered', 0, 'results', 4, 1, 'result', 'expiresAt'], -1, /result\.expiresAt/],
  [snapshot, ['remembered', 0, 'results', 7, 1, 'result', 'value'], 'v', /result\.value must be/],
  [snapshot, ['remembered', 0, 'results', 8, 1, 'result', 'exists'], 'no', /result\.exists /],
  [snapshot, ['remembered', 0, 'results', 9, 1, 'result', 'ttlMs'], -3, /result\.ttlMs /],
  [snapshot, ['remembered', 0, 'results', 9, 1, 'result', 'ttlMs'], DELETE, /result\.ttlMs /],
  [snapshot, ['history', 0, 'epoch'], 9, /snapshot: history\[0\]\.epoch /],
];

test('each malformation is refused with a reason naming the field', () => {
  for (const [message, path, value, reason] of malformations) {
    // Refused as it is, and after the wire (unless the wire cannot carry the value).
    const bad = withValue(message, path, value);
    refuse(bad, reason);
    if (typeof value !== 'number' || Number.isFinite(value)) refuse(overTheWire(bad), reason);
  }
});

test('non-maps and unknown kinds are refused', () => {
  for (const raw of [null, undefined, 1, 'ack', new Uint8Array(2), new Map()]) {
    refuse(raw, /a replication message must be a map or a list of messages/);
  }
  // An array is a list in the compact form (below): an empty one is not a message.
  refuse([], /message: the list must be an array of 1 to/);
  refuse({ ...ack, type: 'constructor' }, /message: type must be one of/);
  refuse({ ...ack, type: '__proto__' }, /message: type must be one of/);
});

test('arrays are bounded before their items are read', () => {
  const mutations = new Array<unknown>(replicationMutationsMax + 1).fill(null);
  refuse(
    withValue(append, ['mutations'], mutations),
    new RegExp(`append: mutations must be an array of at most ${replicationMutationsMax}`),
  );
  const items = new Array<unknown>(replicationChunkItemsMax + 1).fill(null);
  refuse(withValue(snapshot, ['entries'], items), /snapshot: entries must be an array of at most/);
  refuse(
    withValue(snapshot, ['remembered'], items),
    /snapshot: remembered must be an array of at most/,
  );
  const history = new Array<unknown>(replicationHistoryMax + 1).fill(null);
  refuse(withValue(append, ['history'], history), /append: history must be an array of at most/);

  // At the bound, a long append of contiguous seqs is accepted.
  const many = Array.from({ length: 1_000 }, (_, i) => ({ kind: 'delete', seq: 5 + i, key: 'k' }));
  accept({ ...append, fromSeq: 5, mutations: many });
  accept(withValue(append, ['mutations', 0, 'key'], long(replicationKeyLengthMax)));
});

// ---- properties ---------------------------------------------------------------------------

test('property: any value at all is answered without throwing', () => {
  fc.assert(
    fc.property(
      fc.anything({
        withBigInt: true,
        withBoxedValues: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withNullPrototype: true,
        withObjectString: true,
        withTypedArray: true,
        withSparseArray: true,
      }),
      fc.constantFrom(...samples.map((s) => s.type)),
      (raw, type) => {
        const plain = parseReplicationMessage(raw);
        assert.ok(isBadReplicationMessage(plain) || typeof plain.type === 'string');
        // The same value under a real type gets past the first check and into the readers.
        if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
          const typed = parseReplicationMessage({ ...raw, type });
          assert.ok(isBadReplicationMessage(typed) || typed.type === type);
        }
      },
    ),
    { numRuns: 500 },
  );
});

// An independent, plainer statement of the shape, to check what the parser lets through.
const isObj = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const isU = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isT = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isBin = (v: unknown): boolean => v instanceof Uint8Array;
const isKey = (v: unknown): boolean =>
  typeof v === 'string' && v.length >= 1 && v.length <= replicationKeyLengthMax;
const isId = (v: unknown): boolean =>
  typeof v === 'string' && v.length >= 1 && v.length <= replicationIdLengthMax;
const optional = (v: unknown, check: (v: unknown) => boolean): boolean =>
  v === undefined || check(v);
const codes = new Set<unknown>(Object.values(ErrorCode));

function resultOk(r: unknown): boolean {
  if (!isObj(r)) return false;
  switch (r['op']) {
    case 'get':
      return (
        r['entry'] === null ||
        (isObj(r['entry']) &&
          isBin(r['entry']['value']) &&
          isU(r['entry']['version']) &&
          isT(r['entry']['expiresAt']))
      );
    case 'set':
    case 'cas':
      return isU(r['version']);
    case 'delete':
      return typeof r['deleted'] === 'boolean';
    case 'touch':
      return typeof r['found'] === 'boolean' && isT(r['expiresAt']);
    case 'patch':
      return isU(r['version']) && optional(r['value'], isBin);
    case 'ttl':
      return typeof r['exists'] === 'boolean' && (r['ttlMs'] === null || isT(r['ttlMs']));
    default:
      return false;
  }
}

function outcomeOk(o: unknown): boolean {
  if (!isObj(o)) return false;
  if (o['ok'] === true) return resultOk(o['result']);
  return (
    o['ok'] === false &&
    codes.has(o['code']) &&
    typeof o['message'] === 'string' &&
    optional(o['meta'], isObj)
  );
}

function historyOk(h: unknown, epoch: number): boolean {
  if (!Array.isArray(h)) return false;
  return h.every(
    (s: unknown, i) =>
      isObj(s) &&
      isU(s['epoch']) &&
      (s['epoch'] as number) <= epoch &&
      isU(s['startSeq']) &&
      (i === 0 ||
        (((h[i - 1] as Plain)['epoch'] as number) < (s['epoch'] as number) &&
          ((h[i - 1] as Plain)['startSeq'] as number) < (s['startSeq'] as number))),
  );
}

function mutationOk(m: unknown, seq: number): boolean {
  if (!isObj(m) || m['seq'] !== seq) return false;
  switch (m['kind']) {
    case 'put':
      return isKey(m['key']) && isBin(m['value']) && isT(m['expiresAt']);
    case 'expiry':
      return isKey(m['key']) && isT(m['expiresAt']);
    case 'delete':
      return isKey(m['key']);
    case 'result': {
      const id = m['id'];
      return (
        isObj(id) &&
        isId(id['clientId']) &&
        isU(id['seq']) &&
        optional(id['ackedBelow'], (a) => isU(a) && (a as number) <= (id['seq'] as number)) &&
        outcomeOk(m['outcome']) &&
        isT(m['at'])
      );
    }
    default:
      return false;
  }
}

function structurallyValid(m: unknown): boolean {
  if (isObj(m) && m['type'] === 'batch') {
    const messages = m['messages'];
    return (
      Array.isArray(messages) &&
      messages.length > 0 &&
      messages.every((x: unknown) => isObj(x) && x['type'] !== 'batch' && structurallyValid(x))
    );
  }
  if (isObj(m) && (m['type'] === 'leasePing' || m['type'] === 'leaseEcho')) {
    const echo = m['type'] === 'leasePing' ? optional(m['echo'], isT) : !('echo' in m);
    return isT(m['sentAt']) && isU(m['version']) && echo;
  }
  if (!isObj(m) || !isU(m['partition']) || !isU(m['epoch'])) return false;
  const epoch = m['epoch'] as number;
  switch (m['type']) {
    case 'append': {
      const from = m['fromSeq'];
      const muts = m['mutations'];
      return (
        isU(from) &&
        (from as number) >= 1 &&
        historyOk(m['history'], epoch) &&
        Array.isArray(muts) &&
        muts.every((x: unknown, i) => mutationOk(x, (from as number) + i))
      );
    }
    case 'ack':
      return (
        isU(m['seq']) &&
        Number.isSafeInteger(m['lastEpoch']) &&
        (m['lastEpoch'] as number) >= -1 &&
        (m['lastEpoch'] as number) <= epoch &&
        optional(m['behind'], (b) => typeof b === 'boolean') &&
        optional(m['needSnapshot'], (b) => typeof b === 'boolean')
      );
    case 'snapshotAck':
      return isU(m['seq']) && Number.isSafeInteger(m['chunk']) && (m['chunk'] as number) >= -1;
    case 'snapshot': {
      const seq = m['seq'] as number;
      const entries = m['entries'];
      const clients = m['remembered'];
      return (
        isU(seq) &&
        isU(m['chunk']) &&
        typeof m['last'] === 'boolean' &&
        historyOk(m['history'], epoch) &&
        Array.isArray(entries) &&
        entries.every(
          (e: unknown) =>
            Array.isArray(e) &&
            e.length === 4 &&
            isKey(e[0]) &&
            isBin(e[1]) &&
            isU(e[2]) &&
            (e[2] as number) >= 1 &&
            (e[2] as number) <= seq &&
            isT(e[3]),
        ) &&
        new Set(entries.map((e) => (e as unknown[])[0])).size === entries.length &&
        Array.isArray(clients) &&
        clients.every(
          (c: unknown) =>
            isObj(c) &&
            isId(c['clientId']) &&
            isT(c['lastSeenAt']) &&
            Number.isSafeInteger(c['forgottenUpTo']) &&
            (c['forgottenUpTo'] as number) >= -1 &&
            Array.isArray(c['results']) &&
            c['results'].length > 0 &&
            c['results'].every(
              (r: unknown) =>
                Array.isArray(r) &&
                r.length === 2 &&
                Number.isSafeInteger(r[0]) &&
                (r[0] as number) > (c['forgottenUpTo'] as number) &&
                outcomeOk(r[1]),
            ),
        )
      );
    }
    default:
      return false;
  }
}

/** Every path to a value inside a message, binary values counted as leaves. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (value instanceof Uint8Array) return out;
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  }
  return out;
}

const nearMisses = fc.constantFrom<unknown>(
  DELETE,
  -1,
  -2,
  0,
  1,
  2,
  1.5,
  NaN,
  2 ** 53,
  '',
  'x',
  long(300),
  null,
  true,
  [],
  {},
  new Uint8Array([1]),
  'put',
  'result',
  ErrorCode.INTERNAL,
);

/**
 * Applies `edits` (a pick among the value's paths, and a value to put there) to `sample`,
 * then parses: either a refusal with a reason, or a structurally valid message that parses
 * to itself again. Never a throw.
 */
function parsesEditedSafely(sample: unknown, edits: readonly (readonly [number, unknown])[]): void {
  let raw: unknown = sample;
  for (const [pick, value] of edits) {
    const paths = pathsOf(raw).slice(1);
    if (paths.length === 0) break;
    raw = withValue(raw, paths[pick % paths.length] as Path, value);
  }
  const result = parseReplicationMessage(raw);
  if (isBadReplicationMessage(result)) {
    assert.equal(typeof result.reason, 'string');
    return;
  }
  assert.ok(structurallyValid(result), JSON.stringify(plainBytes(result)));
  // Parsing what the parser produced changes nothing.
  assert.deepStrictEqual(plainBytes(accept(result)), plainBytes(result));
}

test('property: a mutated valid message is refused or still structurally valid', () => {
  for (const sample of samples) assert.ok(structurallyValid(sample), sample.type);
  const cases = samples.map((sample) => ({ sample, paths: pathsOf(sample).slice(1) }));
  fc.assert(
    fc.property(
      fc.constantFrom(...cases),
      fc.array(fc.tuple(fc.nat(), fc.oneof(nearMisses, fc.anything())), {
        minLength: 1,
        maxLength: 3,
      }),
      ({ sample }, edits) => parsesEditedSafely(sample, edits),
    ),
    { numRuns: 1_000 },
  );
});

test('a report of caught-up and lagging backups is read into fresh objects, anything else refused', async () => {
  const { parseReplicationReport } = await import('../../src/protocol/replication-messages.js');
  const good = { caughtUp: [{ partition: 3, node: 'b~1', epoch: 7, extra: 1 }], lagging: [] };
  assert.deepEqual(parseReplicationReport(good), {
    caughtUp: [{ partition: 3, node: 'b~1', epoch: 7 }],
    lagging: [],
  });
  for (const bad of [
    null,
    [],
    { caughtUp: [] },
    { caughtUp: [{ partition: -1, node: 'b', epoch: 1 }], lagging: [] },
    { caughtUp: [], lagging: [{ partition: 1, node: '', epoch: 1 }] },
    { caughtUp: [], lagging: [{ partition: 1, node: 'b', epoch: 1.5 }] },
  ]) {
    assert.equal(parseReplicationReport(bad), null, JSON.stringify(bad));
  }
});

test('lease pings and echoes survive the wire; a bad clock reading or version is refused', () => {
  roundTrips({ type: 'leasePing', sentAt: 1_764_000_000_123.5, version: 42 });
  roundTrips({
    type: 'leasePing',
    sentAt: 1_764_000_000_150,
    version: 42,
    echo: 1_764_000_000_100,
  });
  roundTrips({ type: 'leaseEcho', sentAt: 0, version: 0 });
  refuse(
    { type: 'leasePing', sentAt: 5, version: 1, echo: -1 },
    /leasePing: echo must be a non-negative/,
  );
  refuse({ type: 'leasePing', sentAt: -1, version: 1 }, /leasePing: sentAt/);
  refuse({ type: 'leaseEcho', sentAt: Infinity, version: 1 }, /leaseEcho: sentAt/);
  refuse({ type: 'leaseEcho', sentAt: 5, version: 1.5 }, /leaseEcho: version/);
  refuse({ type: 'leasePing', sentAt: 5 }, /leasePing: version/);
});

// ---- batches ------------------------------------------------------------------------------

/** What a flush sends one backup node: appends of several partitions, and a lease ping. */
const batch: PeerDataMessage = {
  type: 'batch',
  messages: [append, { ...append, partition: 4, history: [], mutations: [] }, ack, snapshotAck],
};

test('a batch of every message kind round-trips, each message as it would alone', () => {
  roundTrips(batch);
  roundTrips({ type: 'batch', messages: samples });
  roundTrips({
    type: 'batch',
    messages: [
      { type: 'leasePing', sentAt: 5, version: 2 },
      { type: 'leaseEcho', sentAt: 5, version: 2 },
      ack,
    ],
  });
});

test('a batch is refused whole, naming the message and its field, when one message is bad', () => {
  refuse({ type: 'batch' }, /^batch: messages must be an array/);
  refuse({ type: 'batch', messages: {} }, /^batch: messages must be an array/);
  refuse({ type: 'batch', messages: [] }, /^batch: messages must be a non-empty array/);
  refuse({ type: 'batch', messages: [ack, 1] }, /^batch: messages\[1\]: the message must be a map/);
  refuse(
    { type: 'batch', messages: [ack, [ack]] },
    /^batch: messages\[1\]: the message must be a map/,
  );
  refuse(
    { type: 'batch', messages: [{ type: 'batch', messages: [ack] }] },
    /^batch: messages\[0\]: type must be one of append, .*leaseEcho$/,
  );
  refuse(
    { type: 'batch', messages: [{ ...ack, type: 'constructor' }] },
    /messages\[0\]: type must/,
  );
  refuse(
    withValue(batch, ['messages', 0, 'mutations', 1, 'seq'], 99),
    /^batch: messages\[0\]: append: mutations\[1\]\.seq must be 11/,
  );
  refuse(
    withValue(batch, ['messages', 2, 'lastEpoch'], 8),
    /^batch: messages\[2\]: ack: lastEpoch must be/,
  );
  refuse(
    overTheWire(withValue(batch, ['messages', 1, 'epoch'], -1)),
    /^batch: messages\[1\]: append: epoch must be/,
  );
});

test('a batch is bounded before its messages are read', () => {
  const messages = new Array<unknown>(replicationBatchMessagesMax + 1).fill(null);
  refuse(
    { type: 'batch', messages },
    new RegExp(`^batch: messages must be an array of at most ${replicationBatchMessagesMax}`),
  );
  accept({ type: 'batch', messages: new Array<unknown>(5_000).fill(ack) });
});

test('property: anything inside a batch is answered without throwing', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.anything({
            withBigInt: true,
            withMap: true,
            withNullPrototype: true,
            withTypedArray: true,
          }),
          fc.constantFrom<unknown>(...samples, batch),
        ),
        { maxLength: 5 },
      ),
      (messages) => {
        const result = parseReplicationMessage({ type: 'batch', messages });
        if (isBadReplicationMessage(result)) assert.match(result.reason, /^batch: messages/);
        else assert.ok(structurallyValid(result));
      },
    ),
    { numRuns: 500 },
  );
});

test('property: a mutated valid batch is refused or still structurally valid', () => {
  assert.ok(structurallyValid(batch));
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(), fc.oneof(nearMisses, fc.anything())), {
        minLength: 1,
        maxLength: 3,
      }),
      (edits) => parsesEditedSafely(batch, edits),
    ),
    { numRuns: 1_000 },
  );
});

// ---- the compact form -----------------------------------------------------------------------

/** The message as the compact form carries it: an ack's false flags are simply absent. */
function withoutFalseFlags(message: PeerDataMessage): PeerDataMessage {
  if (message.type === 'batch') {
    return { type: 'batch', messages: message.messages.map((m) => withoutFalseFlags(m)) as never };
  }
  if (message.type !== 'ack') return message;
  const { behind, needSnapshot, ...rest } = message;
  return {
    ...rest,
    ...(behind === true && { behind }),
    ...(needSnapshot === true && { needSnapshot }),
  } as PeerDataMessage;
}

/** Asserts the message survives toWire, MessagePack and validation unchanged. */
function roundTripsCompact(message: PeerDataMessage): PeerDataMessage {
  const wire = overTheWire(toWire(message));
  assert.ok(Array.isArray(wire), 'the compact form is a list');
  const parsed = accept(wire);
  assert.deepStrictEqual(plainBytes(parsed), plainBytes(withoutFalseFlags(message)));
  return parsed;
}

/** Every outcome a result mutation may carry: the three short forms and the map form. */
const appendOfEveryOutcome: ReplicationMessage = {
  type: 'append',
  partition: 9,
  epoch: 3,
  fromSeq: 1,
  history: [{ epoch: 3, startSeq: 1 }],
  mutations: [
    ...everyResult.map((result, i) => ({
      kind: 'result' as const,
      seq: i + 1,
      id: { clientId: `c${i}`, seq: i, ...(i % 2 === 0 && { ackedBelow: i }) },
      outcome: { ok: true as const, result },
      at: 1_700_000_000_000 + i,
    })),
    {
      kind: 'result',
      seq: everyResult.length + 1,
      id: { clientId: 'c-fail', seq: 7 },
      outcome: {
        ok: false,
        code: ErrorCode.OUT_OF_MEMORY,
        message: 'full',
        meta: { limitBytes: 1 },
      },
      at: 1,
    },
  ],
};

test('the compact form: every message kind round-trips, alone and in a batch', () => {
  for (const message of samples) roundTripsCompact(message);
  roundTripsCompact(appendOfEveryOutcome);
  roundTripsCompact({ type: 'leasePing', sentAt: 1_764_000_000_123.5, version: 42 });
  roundTripsCompact({ type: 'leasePing', sentAt: 200, version: 42, echo: 150.5 });
  roundTripsCompact({ type: 'leaseEcho', sentAt: 0, version: 0 });
  roundTripsCompact({ ...ack, behind: true, needSnapshot: true });
  roundTripsCompact(batch);
  roundTripsCompact({ type: 'batch', messages: [...samples, appendOfEveryOutcome] });
});

test('the compact form is positional: an append carries no field names', () => {
  const [wire] = toWire(append) as [unknown[]];
  const [tag, partition, epoch, fromSeq, history, mutations] = wire;
  assert.deepEqual([tag, partition, epoch, fromSeq], [1, 3, 7, 10]);
  assert.deepEqual(history, [5, 4, 7, 11]);
  assert.ok(Array.isArray(mutations));
  assert.deepEqual(mutations.slice(0, 4).map(plainBytes), [
    0,
    'user:1',
    plainBytes(enc({ name: 'ann' })),
    0,
  ]);
  // The result of a set: kind, client id, its seq, ackedBelow, at, then tag 0 and the version.
  assert.deepEqual(mutations.slice(9, 16), [3, 'client-a', 4, 2, 1_700_000_000_000, 0, 10]);
  assert.deepEqual(toWire(ack), [[2, 3, 7, 12, 5, 1]]);
  // A snapshot chunk keeps the map form.
  assert.equal((toWire(snapshot)[0] as { type: string }).type, 'snapshot');
});

test('the compact form: binary stays a view of the frame, for the receiver to copy', () => {
  const frame = new Uint8Array([9, 9, 1, 2, 3, 9]);
  const parsed = accept([[1, 0, 1, 1, [], [0, 'k', frame.subarray(2, 5), 0]]]);
  assert.ok(parsed.type === 'append');
  const put = parsed.mutations[0];
  assert.ok(put !== undefined && put.kind === 'put');
  assert.equal(put.value.buffer, frame.buffer);
  assert.deepEqual(Array.from(put.value), [1, 2, 3]);
});

/** [compact message, path inside it, bad value, expected reason]. */
const compactAppend = (toWire(append) as unknown[][])[0]!;
const compactAck = (toWire(ack) as unknown[][])[0]!;
const compactMalformations: readonly [unknown[], Path, unknown, RegExp][] = [
  [compactAck, [0], 3, /^message: tag must be one of 1 \(append\), 2 \(ack\)/],
  [compactAck, [0], '2', /^message: tag /],
  [compactAck, [5], DELETE, /^ack: the message must be an array of 6 fields/],
  [compactAck, [1], -1, /^ack: partition must be a non-negative integer/],
  [compactAck, [2], 1.5, /^ack: epoch /],
  [compactAck, [3], '12', /^ack: seq /],
  [compactAck, [4], -2, /^ack: lastEpoch must be an integer from -1 to 7/],
  [compactAck, [4], 8, /^ack: lastEpoch /],
  [compactAck, [5], 4, /^ack: flags must be an integer from 0 to 3/],
  [[4, 200, 3, 150], [3], -1, /^leasePing: echo must be a non-negative finite number/],
  [[4, 200, 3, 150], [4], 1, /^leasePing: the message must be an array \[4, sentAt, version\]/],
  [[5, 200, 3], [3], 150, /^leaseEcho: the message must be an array of 3 fields/],
  [[5, 200, 3], [2], -3, /^leaseEcho: version must be a non-negative integer/],
  [compactAppend, [3], 0, /^append: fromSeq must be an integer of at least 1/],
  [compactAppend, [4], {}, /^append: history must be an array/],
  [compactAppend, [4], [5], /^append: history must be pairs of epoch and startSeq/],
  [compactAppend, [4, 0], 8, /^append: history\[0\]\.epoch must be an integer from 0 to 7/],
  [compactAppend, [4, 2], 5, /^append: history\[1\]\.epoch must be greater/],
  [compactAppend, [4, 3], 4, /^append: history\[1\]\.startSeq must be greater/],
  [compactAppend, [5], null, /^append: mutations must be an array/],
  [compactAppend, [5, 0], 9, /^append: mutations\[0\]\.kind must be one of 0 \(put\)/],
  [compactAppend, [5, 1], '', /^append: mutations\[0\]\.key must be a string of 1 to/],
  [compactAppend, [5, 2], 'v', /^append: mutations\[0\]\.value must be binary/],
  [compactAppend, [5, 3], -5, /^append: mutations\[0\]\.expiresAt must be a non-negative/],
  [compactAppend, [5, 6], Infinity, /^append: mutations\[1\]\.expiresAt /],
  [compactAppend, [5, 8], 7, /^append: mutations\[2\]\.key /],
  [compactAppend, [5, 10], '', /^append: mutations\[3\]\.id\.clientId must be a string/],
  [compactAppend, [5, 11], -1, /^append: mutations\[3\]\.id\.seq /],
  [compactAppend, [5, 12], 5, /^append: mutations\[3\]\.id\.ackedBelow .* -1 to 4/],
  [compactAppend, [5, 13], '2024', /^append: mutations\[3\]\.at /],
  [compactAppend, [5, 14], 7, /^append: mutations\[3\]\.outcome must be an outcome tag/],
  [compactAppend, [5, 15], -1, /^append: mutations\[3\]\.outcome\.result\.version /],
  [compactAppend, [5, 22], 'x', /^append: mutations\[4\]\.outcome must be a map/],
  [compactAppend, [5, 22, 'code'], 'OOPS', /^append: mutations\[4\]\.outcome\.code must be/],
  // A field cut off at the end of the flat list is missing, not read past the end.
  [compactAppend, [5, 29], DELETE, /^append: mutations\[5\]\.outcome must be a map/],
];

test('the compact form: each malformation is refused with a reason naming the field', () => {
  for (const [message, path, value, reason] of compactMalformations) {
    const bad = [withValue(message, path, value)];
    refuse(bad, reason);
    if (typeof value !== 'number' || Number.isFinite(value)) refuse(overTheWire(bad), reason);
  }
  // In a list of several, the reason names the message the way a batch does.
  refuse(
    [compactAck, withValue(compactAck, [3], -1)],
    /^batch: messages\[1\]: ack: seq must be a non-negative integer/,
  );
  refuse([compactAck, 'ack'], /^batch: messages\[1\]: the message must be an array or a map/);
  refuse([compactAck, { type: 'batch' }], /^batch: messages\[1\]: type must be one of append/);
});

test('the compact form: lists, histories and mutations are bounded before they are read', () => {
  refuse(
    new Array<unknown>(replicationBatchMessagesMax + 1).fill(compactAck),
    new RegExp(`^message: the list must be an array of 1 to ${replicationBatchMessagesMax}`),
  );
  refuse(
    [withValue(compactAppend, [4], new Array<unknown>(2 * replicationHistoryMax + 2).fill(0))],
    /^append: history must be an array of at most/,
  );
  refuse(
    [withValue(compactAppend, [5], new Array<unknown>(7 * replicationMutationsMax + 1).fill(2))],
    /^append: mutations must be an array of at most/,
  );
  // Deletes are the shortest mutations: the count bound holds however short they are.
  const deletes = new Array<unknown>(replicationMutationsMax + 1)
    .fill(null)
    .flatMap(() => [2, 'k']);
  refuse(
    [withValue(compactAppend, [5], deletes)],
    new RegExp(`^append: mutations must be at most ${replicationMutationsMax} mutations`),
  );
  const many = new Array<unknown>(1_000).fill(null).flatMap(() => [2, 'k']);
  const parsed = accept([[1, 0, 1, 5, [], many]]);
  assert.ok(parsed.type === 'append' && parsed.mutations.length === 1_000);
  assert.equal(parsed.mutations[999]?.seq, 1_004);
});

test('property: the compact form answers any value without throwing', () => {
  const anything = fc.anything({
    withBigInt: true,
    withMap: true,
    withNullPrototype: true,
    withTypedArray: true,
    withSparseArray: true,
  });
  const tags = fc.constantFrom<unknown>(1, 2, 4, 5, 0, 3, 'append');
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(anything, fc.tuple(tags, anything, anything, anything, anything, anything)),
        { maxLength: 4 },
      ),
      (list) => {
        const result = parseReplicationMessage(list);
        if (isBadReplicationMessage(result)) assert.equal(typeof result.reason, 'string');
        else assert.ok(structurallyValid(result));
      },
    ),
    { numRuns: 1_000 },
  );
});

test('property: a mutated compact message is refused, or valid and the same once sent again', () => {
  const leases: PeerDataMessage[] = [
    { type: 'leasePing', sentAt: 200, version: 3, echo: 150 },
    { type: 'leaseEcho', sentAt: 150, version: 3 },
  ];
  const compactSamples = [...samples, ...leases, appendOfEveryOutcome, batch].map((m) => toWire(m));
  fc.assert(
    fc.property(
      fc.constantFrom(...compactSamples),
      fc.array(fc.tuple(fc.nat(), fc.oneof(nearMisses, fc.anything())), {
        minLength: 1,
        maxLength: 3,
      }),
      (sample, edits) => {
        let raw: unknown = sample;
        for (const [pick, value] of edits) {
          const paths = pathsOf(raw).slice(1);
          if (paths.length === 0) break;
          raw = withValue(raw, paths[pick % paths.length] as Path, value);
        }
        const result = parseReplicationMessage(raw);
        if (isBadReplicationMessage(result)) return;
        assert.ok(structurallyValid(result), JSON.stringify(plainBytes(result)));
        const again = accept(overTheWire(toWire(result)));
        assert.deepStrictEqual(plainBytes(again), plainBytes(withoutFalseFlags(result)));
      },
    ),
    { numRuns: 1_000 },
  );
});

/** A cluster whose every message crosses the wire in the compact form. */
class CompactWireCluster extends Cluster {
  override collect(from: string, effects: Effects): void {
    const send = effects.send.map((s) => ({
      to: s.to,
      message: roundTripsCompact(s.message) as ReplicationMessage,
    }));
    super.collect(from, { ...effects, send });
  }
}

test('replicas fed only compact messages converge, through a state transfer too', () => {
  const c = new CompactWireCluster(['A', 'B', 'C'], {
    logMutationsMax: 8,
    snapshotChunkEntriesMax: 4,
  });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B'], backups: ['B'] }, ['A', 'B']);
  c.deliverAll();
  writeEveryKind(c);
  c.settle();
  assertSameState(c.replica('A'), c.replica('B'));
  c.configure({ epoch: 2, primary: 'A', inSync: ['A', 'B'], backups: ['B', 'C'] });
  for (let i = 0; i < 5; i++) c.execute('A', setCmd(`late${i}`, enc(i)), 'async');
  c.settle();
  assertSameState(c.replica('A'), c.replica('C'));
});

test('a -0 from a crafted float reads as 0, so a message reads the same once sent on', () => {
  // msgpackr writes -0 as the integer 0; a float64 -0 on the wire comes only from another encoder.
  const parsed = accept([[1, -0, 7, 10, [-0, 4, 7, 11], [2, 'k']]]);
  assert.ok(parsed.type === 'append');
  assert.ok(Object.is(parsed.partition, 0), 'the partition reads as 0');
  assert.ok(Object.is(parsed.history[0]?.epoch, 0), 'a history epoch reads as 0');
  const ping = accept([[4, -0, 3]]);
  assert.ok(ping.type === 'leasePing' && Object.is(ping.sentAt, 0), 'sentAt reads as 0');
});
