/**
 * Raft messages on the wire between nodes, and their validation.
 *
 * Why here. Raft's `step()` is a pure state machine that trusts the shape of what it is
 * given: it reads `m.entries[i].index` without asking whether `entries` is an array, and its
 * log asserts invariants (contiguous indexes, terms that never decrease) because inside one
 * process a violation is a bug worth crashing for. A message from another node is not inside
 * one process. A peer running other code, a corrupted frame or anything that can reach the
 * peer port could otherwise crash a server or, worse, plant an entry in its log that
 * breaks a Raft invariant and only crashes it at the next restart. So everything that arrives
 * from the network passes through `parseRaftMessage` before it reaches `step()`. Like the
 * client request codec (codec.ts), it never throws on bad input: it returns a
 * `BadRaftMessage` with a reason naming the field, and the node drops the message and logs
 * the reason. Dropping is always safe in Raft: the network may lose any message, and the
 * protocol resends whatever matters.
 *
 * What is checked, per `type`:
 *
 * 1. The value is a plain map and `type` names one of the twelve message types.
 * 2. Every field of that type is present with the right type: node ids are non-empty strings
 *    of at most `raftNodeIdLengthMax` characters, terms, indexes, commits and contexts are
 *    non-negative safe integers, flags are booleans, request ids are strings of at most
 *    `raftRequestIdLengthMax` characters.
 * 3. An append carries at most `raftEntriesPerAppendMax` entries, each well formed: `normal`
 *    with a payload the caller's `isData` accepts, `config` with a known change and a valid
 *    membership, or `noop`. The indexes run contiguously from `prevIndex + 1` (the follower's
 *    log computes the last new index as `prevIndex + entries.length` and asserts that
 *    appends are contiguous), and the terms never decrease from `prevTerm` and never pass
 *    the message's term: a leader's log holds no entry from a term after its own.
 * 4. A membership (in a config entry or a snapshot) lists at most `raftMembershipNodesMax`
 *    voters and as many learners, each list sorted without repeats, the two disjoint, as
 *    types.ts promises. A config entry's membership agrees with its change (after `addVoter`
 *    the node is a voter, after `removeNode` it is gone).
 * 5. A snapshot has `meta` (index, term at most the message's term, membership) and `data`
 *    as binary. The bytes are copied: the decoder hands out a view into the frame buffer,
 *    and Raft keeps a snapshot until it has been persisted and applied. Snapshots are sent
 *    whole and are small (types.ts), so the copy is cheap.
 *
 * Only own properties are read, and the result is a fresh object holding only the fields of
 * its type: an extra key, a `__proto__` key or an inherited field in the input never reaches
 * Raft. The payload of a normal entry is the one exception: it is passed on as it is, and
 * whether it is clean is for `isData` to decide.
 *
 * What is not checked: anything that needs the receiver's state (whether `from` is a member,
 * whether a term is current). That is Raft's own business, and it already handles every
 * well-formed value.
 */
import { createPackr } from '../core/msgpack.js';
import type {
  ConfigChange,
  Entry,
  Membership,
  Message,
  MessageType,
  NodeId,
  Snapshot,
} from '../raft/types.js';
import { isPlainMap, isUint, type Fields } from '../core/shape.js';

/** Node ids are names chosen by operators ("node-7", a host name): 256 is generous. */
export const raftNodeIdLengthMax = 256;

/** Read request ids are made by the node that asks; 256 leaves room for any scheme. */
export const raftRequestIdLengthMax = 256;

/**
 * Entries in one append. A leader sends at most `maxEntriesPerAppend` (64 by default, see
 * raft/options.ts); 10 000 leaves room for any sane setting while keeping the work one
 * message can cause bounded. A node configured above this would have its appends refused.
 */
export const raftEntriesPerAppendMax = 10_000;

/**
 * Voters, and separately learners, in one membership. Clusters have a few voters and at most
 * some dozens of learners; 1 024 is far above that, and small enough that the quorum
 * arithmetic Raft runs on every acknowledgement stays cheap.
 */
export const raftMembershipNodesMax = 1_024;

/** Why a value is not a Raft message. */
export interface BadRaftMessage {
  readonly bad: true;
  /** A sentence naming the message type and the field, e.g. "append: entries[2].index ...". */
  readonly reason: string;
}

/** Checks a normal entry's payload; it must not throw. */
export type DataGuard<T> = (value: unknown) => value is T;

const packr = createPackr();

class FieldError extends Error {}

/** A map as MessagePack decodes one: a plain object, not an array, a Date or a class. */

function isNodeId(value: unknown): value is NodeId {
  return typeof value === 'string' && value.length > 0 && value.length <= raftNodeIdLengthMax;
}

const nodeIdText = `a node id (a non-empty string of at most ${raftNodeIdLengthMax} characters)`;

/**
 * Reads the fields of one map, throwing FieldError (caught in parseRaftMessage) with the
 * message type and the full path of the field on a mismatch.
 */
class Reader {
  constructor(
    private readonly fields: Fields,
    /** The message type, or 'message' before it is known. */
    private readonly context: string,
    /** The path of this map inside the message, with a trailing dot, or ''. */
    private readonly prefix: string,
  ) {}

  static of(value: unknown, context: string, path: string): Reader {
    if (!isPlainMap(value)) throw new FieldError(`${context}: ${path} must be a map`);
    return new Reader(value, context, `${path}.`);
  }

  fail(name: string, expected: string): never {
    throw new FieldError(`${this.context}: ${this.prefix}${name} must be ${expected}`);
  }

  path(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** Own properties only: an inherited field never counts as sent. */
  raw(name: string): unknown {
    return Object.hasOwn(this.fields, name) ? this.fields[name] : undefined;
  }

  uint(name: string): number {
    const v = this.raw(name);
    if (!isUint(v)) this.fail(name, 'a non-negative integer');
    return v;
  }

  /** A term that may not exceed the message's own term. */
  termAtMost(name: string, max: number): number {
    const v = this.uint(name);
    if (v > max) this.fail(name, `at most the message term ${max}`);
    return v;
  }

  bool(name: string): boolean {
    const v = this.raw(name);
    if (typeof v !== 'boolean') this.fail(name, 'a boolean');
    return v;
  }

  nodeId(name: string): NodeId {
    const v = this.raw(name);
    if (!isNodeId(v)) this.fail(name, nodeIdText);
    return v;
  }

  requestId(name: string): string {
    const v = this.raw(name);
    if (typeof v !== 'string' || v.length > raftRequestIdLengthMax) {
      this.fail(name, `a string of at most ${raftRequestIdLengthMax} characters`);
    }
    return v;
  }

  /** Binary, copied out of the frame buffer into a Uint8Array of its own. */
  bytes(name: string): Uint8Array {
    const v = this.raw(name);
    if (!(v instanceof Uint8Array)) this.fail(name, 'binary (a Uint8Array)');
    return new Uint8Array(v);
  }

  map(name: string): Reader {
    return Reader.of(this.raw(name), this.context, this.path(name));
  }

  array(name: string, max: number): readonly unknown[] {
    const v = this.raw(name);
    if (!Array.isArray(v)) this.fail(name, 'an array');
    if (v.length > max) this.fail(name, `an array of at most ${max} items, not ${v.length}`);
    return v as readonly unknown[];
  }
}

const changeTypes: readonly ConfigChange['type'][] = [
  'addVoter',
  'addLearner',
  'promoteLearner',
  'removeNode',
];

function readChange(r: Reader): ConfigChange {
  const type = r.raw('type');
  const node = r.nodeId('node');
  switch (type) {
    case 'addVoter':
    case 'addLearner':
    case 'promoteLearner':
    case 'removeNode':
      return { type, node };
    default:
      return r.fail('type', `one of ${changeTypes.join(', ')}`);
  }
}

function readNodeList(r: Reader, name: string): NodeId[] {
  const raw = r.array(name, raftMembershipNodesMax);
  const ids: NodeId[] = [];
  for (let i = 0; i < raw.length; i++) {
    const id = raw[i];
    if (!isNodeId(id)) r.fail(`${name}[${i}]`, nodeIdText);
    const before = ids[i - 1];
    // Sorted as makeMembership sorts (UTF-16 code units), which also rules out repeats.
    if (before !== undefined && !(before < id)) {
      r.fail(name, 'sorted ascending without repeats');
    }
    ids.push(id);
  }
  return ids;
}

function readMembership(r: Reader): Membership {
  const voters = readNodeList(r, 'voters');
  const learners = readNodeList(r, 'learners');
  const voterSet = new Set(voters);
  const both = learners.find((id) => voterSet.has(id));
  if (both !== undefined) r.fail('learners', `disjoint from voters, but ${both} is in both`);
  return { voters, learners };
}

/** A config entry carries the membership after its change; the two must agree. */
function checkChangeAgrees(r: Reader, change: ConfigChange, m: Membership): void {
  const voter = m.voters.includes(change.node);
  const learner = m.learners.includes(change.node);
  const agrees =
    change.type === 'addLearner'
      ? learner
      : change.type === 'removeNode'
        ? !voter && !learner
        : voter;
  if (!agrees) {
    const expected =
      change.type === 'addLearner'
        ? 'a learner'
        : change.type === 'removeNode'
          ? 'absent'
          : 'a voter';
    r.fail('membership', `the result of change ${change.type}: ${change.node} ${expected}`);
  }
}

function readEntry<T>(r: Reader, isData: DataGuard<T>, index: number, term: number): Entry<T> {
  const kind = r.raw('kind');
  switch (kind) {
    case 'normal': {
      const data = r.raw('data');
      if (!isData(data)) r.fail('data', 'a valid payload');
      return { index, term, kind, data };
    }
    case 'config': {
      const change = readChange(r.map('change'));
      const membership = readMembership(r.map('membership'));
      checkChangeAgrees(r, change, membership);
      return { index, term, kind, change, membership };
    }
    case 'noop':
      return { index, term, kind };
    default:
      return r.fail('kind', 'one of normal, config, noop');
  }
}

function readEntries<T>(
  r: Reader,
  isData: DataGuard<T>,
  prevIndex: number,
  prevTerm: number,
  messageTerm: number,
): Entry<T>[] {
  const raw = r.array('entries', raftEntriesPerAppendMax);
  const entries: Entry<T>[] = [];
  let lastTerm = prevTerm;
  for (let i = 0; i < raw.length; i++) {
    const e = Reader.of(raw[i], 'append', r.path(`entries[${i}]`));
    const expectedIndex = prevIndex + 1 + i;
    const index = e.uint('index');
    if (index !== expectedIndex) {
      e.fail('index', `${expectedIndex}: entries follow prevIndex ${prevIndex} without gaps`);
    }
    const term = e.uint('term');
    if (term < lastTerm || term > messageTerm) {
      e.fail(
        'term',
        `between ${lastTerm} and the message term ${messageTerm}: terms in a log never decrease`,
      );
    }
    lastTerm = term;
    entries.push(readEntry(e, isData, index, term));
  }
  return entries;
}

function readSnapshot(r: Reader, messageTerm: number): Snapshot {
  const meta = r.map('meta');
  return {
    meta: {
      index: meta.uint('index'),
      term: meta.termAtMost('term', messageTerm),
      membership: readMembership(meta.map('membership')),
    },
    data: r.bytes('data'),
  };
}

interface Base {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/**
 * The largest term a message may carry: one election per millisecond would take 8,900 years
 * to reach it. Raft computes term + 1 from what it hears, so a term near 2^53 from a broken
 * or hostile peer would leave every node at a term nobody can campaign past.
 */
export const raftTermMax = 2 ** 48;

function readBase(r: Reader): Base {
  const term = r.uint('term');
  if (term > raftTermMax) r.fail('term', `at most ${raftTermMax}`);
  return { from: r.nodeId('from'), to: r.nodeId('to'), term };
}

/** One reader per message type; the Record makes the compiler insist on all of them. */
const bodyReaders: Record<MessageType, <T>(r: Reader, isData: DataGuard<T>) => Message<T>> = {
  preVote: (r) => ({
    type: 'preVote',
    ...readBase(r),
    lastIndex: r.uint('lastIndex'),
    lastTerm: r.uint('lastTerm'),
  }),
  preVoteResp: (r) => ({ type: 'preVoteResp', ...readBase(r), reject: r.bool('reject') }),
  vote: (r) => ({
    type: 'vote',
    ...readBase(r),
    lastIndex: r.uint('lastIndex'),
    lastTerm: r.uint('lastTerm'),
    transfer: r.bool('transfer'),
  }),
  voteResp: (r) => ({ type: 'voteResp', ...readBase(r), reject: r.bool('reject') }),
  append: <T>(r: Reader, isData: DataGuard<T>) => {
    const base = readBase(r);
    const prevIndex = r.uint('prevIndex');
    const prevTerm = r.termAtMost('prevTerm', base.term);
    const entries = readEntries(r, isData, prevIndex, prevTerm, base.term);
    return { type: 'append', ...base, prevIndex, prevTerm, entries, commit: r.uint('commit') };
  },
  appendResp: (r) => ({
    type: 'appendResp',
    ...readBase(r),
    reject: r.bool('reject'),
    index: r.uint('index'),
    hintIndex: r.uint('hintIndex'),
    hintTerm: r.uint('hintTerm'),
  }),
  heartbeat: (r) => ({
    type: 'heartbeat',
    ...readBase(r),
    commit: r.uint('commit'),
    context: r.uint('context'),
    granted: r.uint('granted'),
  }),
  heartbeatResp: (r) => ({ type: 'heartbeatResp', ...readBase(r), context: r.uint('context') }),
  snapshot: (r) => {
    const base = readBase(r);
    return { type: 'snapshot', ...base, snapshot: readSnapshot(r.map('snapshot'), base.term) };
  },
  readIndex: (r) => ({ type: 'readIndex', ...readBase(r), requestId: r.requestId('requestId') }),
  readIndexResp: (r) => ({
    type: 'readIndexResp',
    ...readBase(r),
    requestId: r.requestId('requestId'),
    index: r.uint('index'),
  }),
  timeoutNow: (r) => ({ type: 'timeoutNow', ...readBase(r) }),
};

const messageTypeNames = Object.keys(bodyReaders).join(', ');

function isMessageType(value: unknown): value is MessageType {
  return typeof value === 'string' && Object.hasOwn(bodyReaders, value);
}

/**
 * Validates a decoded (MessagePack) value as a Raft message whose normal-entry payloads are
 * checked by `isData`. Never throws on bad input. Returns a fresh object holding only the
 * fields of the message's type.
 */
export function parseRaftMessage<T>(
  raw: unknown,
  isData: DataGuard<T>,
): Message<T> | BadRaftMessage {
  if (!isPlainMap(raw)) return { bad: true, reason: 'a Raft message must be a map' };
  const type = Object.hasOwn(raw, 'type') ? raw['type'] : undefined;
  if (!isMessageType(type)) {
    return { bad: true, reason: `message: type must be one of ${messageTypeNames}` };
  }
  try {
    return bodyReaders[type](new Reader(raw, type, ''), isData);
  } catch (error) {
    if (error instanceof FieldError) return { bad: true, reason: error.message };
    throw error;
  }
}

export function isBadRaftMessage<T>(value: Message<T> | BadRaftMessage): value is BadRaftMessage {
  return 'bad' in value;
}

/** MessagePack for a message; normal-entry payloads must be MessagePack-encodable. */
export function encodeRaftMessage<T>(message: Message<T>): Uint8Array {
  return packr.pack(message);
}

/** Decodes and validates one Raft message. Never throws on bad input. */
export function decodeRaftMessage<T>(
  bytes: Uint8Array,
  isData: DataGuard<T>,
): Message<T> | BadRaftMessage {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { bad: true, reason: `undecodable Raft message: ${detail}` };
  }
  return parseRaftMessage(raw, isData);
}
