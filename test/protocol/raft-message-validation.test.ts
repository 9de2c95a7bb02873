import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import {
  decodeRaftMessage,
  encodeRaftMessage,
  isBadRaftMessage,
  parseRaftMessage,
  raftEntriesPerAppendMax,
  raftMembershipNodesMax,
  raftNodeIdLengthMax,
  raftRequestIdLengthMax,
} from '../../src/protocol/raft-messages.js';
import type {
  AppendMessage,
  ConfigChange,
  Entry,
  Membership,
  Message,
  MessageType,
} from '../../src/raft/types.js';

// Normal-entry payloads in these tests are strings.
const isString = (value: unknown): value is string => typeof value === 'string';

type Plain = Record<string, unknown>;

function accept(raw: unknown): Message<string> {
  const result = parseRaftMessage(raw, isString);
  assert.ok(!isBadRaftMessage(result), `expected a message, got: ${JSON.stringify(result)}`);
  return result;
}

/** Asserts `raw` is refused and that the reason matches `names` (the field's path). */
function refuse(raw: unknown, names: RegExp): string {
  const result = parseRaftMessage(raw, isString);
  assert.ok(isBadRaftMessage(result), `expected a refusal matching ${names}`);
  assert.match(result.reason, names);
  return result.reason;
}

/** A copy of `message` with some fields replaced (undefined deletes the field). */
function withFields(message: Message<string>, fields: Plain): Plain {
  const copy: Plain = { ...message, ...fields };
  for (const [k, v] of Object.entries(fields)) if (v === undefined) delete copy[k];
  return copy;
}

const membership: Membership = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };

const preVote: Message<string> = {
  type: 'preVote',
  from: 'n1',
  to: 'n2',
  term: 6,
  lastIndex: 10,
  lastTerm: 5,
};
const vote: Message<string> = {
  type: 'vote',
  from: 'n1',
  to: 'n2',
  term: 6,
  lastIndex: 10,
  lastTerm: 5,
  transfer: true,
};
const append: AppendMessage<string> = {
  type: 'append',
  from: 'n1',
  to: 'n2',
  term: 5,
  prevIndex: 7,
  prevTerm: 3,
  entries: [
    { index: 8, term: 3, kind: 'normal', data: 'set a=1' },
    { index: 9, term: 5, kind: 'noop' },
    {
      index: 10,
      term: 5,
      kind: 'config',
      change: { type: 'addLearner', node: 'n4' },
      membership,
    },
  ],
  commit: 7,
};
const heartbeat: Message<string> = {
  type: 'heartbeat',
  from: 'n1',
  to: 'n2',
  term: 5,
  commit: 9,
  context: 3,
  granted: 2,
};
const snapshot: Message<string> = {
  type: 'snapshot',
  from: 'n1',
  to: 'n2',
  term: 5,
  snapshot: { meta: { index: 100, term: 4, membership }, data: new Uint8Array([1, 2, 3]) },
};
const readIndex: Message<string> = {
  type: 'readIndex',
  from: 'n2',
  to: 'n1',
  term: 5,
  requestId: 'read-1',
};

/** One well-formed example of each type; the Record makes the compiler demand all twelve. */
const examples: Record<MessageType, Message<string>> = {
  preVote,
  preVoteResp: { type: 'preVoteResp', from: 'n2', to: 'n1', term: 6, reject: false },
  vote,
  voteResp: { type: 'voteResp', from: 'n2', to: 'n1', term: 6, reject: true },
  append,
  appendResp: {
    type: 'appendResp',
    from: 'n2',
    to: 'n1',
    term: 5,
    reject: true,
    index: 7,
    hintIndex: 6,
    hintTerm: 2,
  },
  heartbeat,
  heartbeatResp: { type: 'heartbeatResp', from: 'n2', to: 'n1', term: 5, context: 3 },
  snapshot,
  readIndex,
  readIndexResp: {
    type: 'readIndexResp',
    from: 'n1',
    to: 'n2',
    term: 5,
    requestId: 'read-1',
    index: 12,
  },
  timeoutNow: { type: 'timeoutNow', from: 'n1', to: 'n2', term: 5 },
};
const messageTypes = Object.keys(examples) as MessageType[];

// ---------------------------------------------------------------------------------------
// The slow, obvious structural check the validator is compared against: a table of fields
// per type and the invariants spelled out one by one, sharing no code with the validator.

const isUint = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): boolean =>
  typeof v === 'string' && v.length >= 1 && v.length <= raftNodeIdLengthMax;
const isBool = (v: unknown): boolean => typeof v === 'boolean';

function isPlain(v: unknown): v is Plain {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.getPrototypeOf(v) === Object.prototype
  );
}

function hasExactly(v: unknown, keys: string[]): v is Plain {
  if (!isPlain(v)) return false;
  const own = Reflect.ownKeys(v).map(String).sort();
  return JSON.stringify(own) === JSON.stringify([...keys].sort());
}

function wellFormedMembership(m: unknown): boolean {
  if (!hasExactly(m, ['voters', 'learners'])) return false;
  const lists = [m['voters'], m['learners']];
  for (const list of lists) {
    if (!Array.isArray(list) || list.length > raftMembershipNodesMax) return false;
    if (!list.every(isId)) return false;
    for (let i = 1; i < list.length; i++) if (!(list[i - 1] < list[i])) return false;
  }
  const [voters, learners] = lists as [string[], string[]];
  return learners.every((l) => !voters.includes(l));
}

function wellFormedConfig(e: Plain): boolean {
  const change = e['change'];
  const m = e['membership'];
  if (!hasExactly(change, ['type', 'node']) || !isId(change['node'])) return false;
  if (!wellFormedMembership(m)) return false;
  const { voters, learners } = m as unknown as Membership;
  const node = change['node'] as string;
  switch (change['type']) {
    case 'addVoter':
    case 'promoteLearner':
      return voters.includes(node);
    case 'addLearner':
      return learners.includes(node);
    case 'removeNode':
      return !voters.includes(node) && !learners.includes(node);
    default:
      return false;
  }
}

function wellFormedEntry(e: unknown, index: number, minTerm: number, maxTerm: number): boolean {
  if (!isPlain(e) || e['index'] !== index || !isUint(e['term'])) return false;
  const term = e['term'] as number;
  if (term < minTerm || term > maxTerm) return false;
  switch (e['kind']) {
    case 'normal':
      return hasExactly(e, ['index', 'term', 'kind', 'data']) && isString(e['data']);
    case 'noop':
      return hasExactly(e, ['index', 'term', 'kind']);
    case 'config':
      return (
        hasExactly(e, ['index', 'term', 'kind', 'change', 'membership']) && wellFormedConfig(e)
      );
    default:
      return false;
  }
}

const fieldsOf: Record<MessageType, Record<string, (v: unknown) => boolean>> = {
  preVote: { lastIndex: isUint, lastTerm: isUint },
  preVoteResp: { reject: isBool },
  vote: { lastIndex: isUint, lastTerm: isUint, transfer: isBool },
  voteResp: { reject: isBool },
  append: { prevIndex: isUint, prevTerm: isUint, entries: Array.isArray, commit: isUint },
  appendResp: { reject: isBool, index: isUint, hintIndex: isUint, hintTerm: isUint },
  heartbeat: { commit: isUint, context: isUint, granted: isUint },
  heartbeatResp: { context: isUint },
  snapshot: { snapshot: isPlain },
  readIndex: { requestId: (v) => typeof v === 'string' && v.length <= raftRequestIdLengthMax },
  readIndexResp: {
    requestId: (v) => typeof v === 'string' && v.length <= raftRequestIdLengthMax,
    index: isUint,
  },
  timeoutNow: {},
};

function wellFormed(m: unknown): boolean {
  if (!isPlain(m) || typeof m['type'] !== 'string' || !Object.hasOwn(fieldsOf, m['type'])) {
    return false;
  }
  const fields = fieldsOf[m['type'] as MessageType];
  if (!hasExactly(m, ['type', 'from', 'to', 'term', ...Object.keys(fields)])) return false;
  if (!isId(m['from']) || !isId(m['to']) || !isUint(m['term'])) return false;
  if (!Object.entries(fields).every(([name, check]) => check(m[name]))) return false;
  const term = m['term'] as number;
  if (m['type'] === 'append') {
    const entries = m['entries'] as unknown[];
    const prevTerm = m['prevTerm'] as number;
    if (entries.length > raftEntriesPerAppendMax || prevTerm > term) return false;
    let minTerm = prevTerm;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (!wellFormedEntry(e, (m['prevIndex'] as number) + 1 + i, minTerm, term)) return false;
      minTerm = (e as Plain)['term'] as number;
    }
  }
  if (m['type'] === 'snapshot') {
    const s = m['snapshot'];
    if (!hasExactly(s, ['meta', 'data']) || !(s['data'] instanceof Uint8Array)) return false;
    const meta = s['meta'];
    if (!hasExactly(meta, ['index', 'term', 'membership'])) return false;
    if (!isUint(meta['index']) || !isUint(meta['term']) || (meta['term'] as number) > term) {
      return false;
    }
    if (!wellFormedMembership(meta['membership'])) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Generators of well-formed messages.

const nodeIdArb = fc.oneof(
  { weight: 9, arbitrary: fc.string({ minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: raftNodeIdLengthMax }) },
);
const uintArb = fc.oneof(fc.nat({ max: 1_000 }), fc.maxSafeNat());
const termArb = fc.nat({ max: 1_000 });
const baseArb = fc.record({ from: nodeIdArb, to: nodeIdArb, term: termArb });
const requestIdArb = fc.string({ maxLength: raftRequestIdLengthMax });

const membershipArb: fc.Arbitrary<Membership> = fc
  .uniqueArray(nodeIdArb, { maxLength: 6 })
  .chain((ids) =>
    fc.array(fc.boolean(), { minLength: ids.length, maxLength: ids.length }).map((voter) => ({
      voters: ids.filter((_, i) => voter[i]).sort(),
      learners: ids.filter((_, i) => !voter[i]).sort(),
    })),
  );

/** A change together with the membership it results in. */
const configArb: fc.Arbitrary<{ change: ConfigChange; membership: Membership }> =
  membershipArb.chain((m) => {
    const members = [...m.voters, ...m.learners];
    const removed = nodeIdArb
      .filter((node) => !members.includes(node))
      .map((node) => ({ change: { type: 'removeNode' as const, node }, membership: m }));
    const kept: { change: ConfigChange; membership: Membership }[] = [
      ...m.voters.map((node) => ({ change: { type: 'addVoter' as const, node }, membership: m })),
      ...m.voters.map((node) => ({
        change: { type: 'promoteLearner' as const, node },
        membership: m,
      })),
      ...m.learners.map((node) => ({
        change: { type: 'addLearner' as const, node },
        membership: m,
      })),
    ];
    return kept.length === 0 ? removed : fc.oneof(removed, fc.constantFrom(...kept));
  });

function entriesArb(prevIndex: number, prevTerm: number, term: number) {
  return fc
    .array(
      fc.tuple(
        fc.integer({ min: prevTerm, max: term }),
        fc.oneof(
          fc.string().map((data) => ({ kind: 'normal' as const, data })),
          fc.constant({ kind: 'noop' as const }),
          configArb.map((c) => ({ kind: 'config' as const, ...c })),
        ),
      ),
      { maxLength: 5 },
    )
    .map((items) => {
      const terms = items.map(([t]) => t).sort((a, b) => a - b);
      return items.map(([, body], i): Entry<string> => ({
        index: prevIndex + 1 + i,
        term: terms[i] ?? prevTerm,
        ...body,
      }));
    });
}

const messageArb: fc.Arbitrary<Message<string>> = fc.oneof(
  fc
    .record({ base: baseArb, lastIndex: uintArb, lastTerm: uintArb })
    .map(({ base, ...rest }): Message<string> => ({ type: 'preVote', ...base, ...rest })),
  fc
    .record({ base: baseArb, reject: fc.boolean() })
    .map(({ base, reject }): Message<string> => ({ type: 'preVoteResp', ...base, reject })),
  fc
    .record({ base: baseArb, lastIndex: uintArb, lastTerm: uintArb, transfer: fc.boolean() })
    .map(({ base, ...rest }): Message<string> => ({ type: 'vote', ...base, ...rest })),
  fc
    .record({ base: baseArb, reject: fc.boolean() })
    .map(({ base, reject }): Message<string> => ({ type: 'voteResp', ...base, reject })),
  fc
    .record({
      base: baseArb,
      prevIndex: fc.nat({ max: 2 ** 40 }),
      prevTermFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      commit: uintArb,
    })
    .chain(({ base, prevIndex, prevTermFraction, commit }) => {
      const prevTerm = Math.floor(prevTermFraction * base.term);
      return entriesArb(prevIndex, prevTerm, base.term).map((entries): Message<string> => ({
        type: 'append',
        ...base,
        prevIndex,
        prevTerm,
        entries,
        commit,
      }));
    }),
  fc
    .record({
      base: baseArb,
      reject: fc.boolean(),
      index: uintArb,
      hintIndex: uintArb,
      hintTerm: uintArb,
    })
    .map(({ base, ...rest }): Message<string> => ({ type: 'appendResp', ...base, ...rest })),
  fc
    .record({ base: baseArb, commit: uintArb, context: uintArb, granted: uintArb })
    .map(({ base, ...rest }): Message<string> => ({ type: 'heartbeat', ...base, ...rest })),
  fc
    .record({ base: baseArb, context: uintArb })
    .map(({ base, context }): Message<string> => ({ type: 'heartbeatResp', ...base, context })),
  fc
    .record({
      base: baseArb,
      index: uintArb,
      termFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      membership: membershipArb,
      data: fc.uint8Array({ maxLength: 64 }),
    })
    .map(({ base, index, termFraction, membership, data }): Message<string> => ({
      type: 'snapshot',
      ...base,
      snapshot: {
        meta: { index, term: Math.floor(termFraction * base.term), membership },
        data,
      },
    })),
  fc
    .record({ base: baseArb, requestId: requestIdArb })
    .map(({ base, requestId }): Message<string> => ({ type: 'readIndex', ...base, requestId })),
  fc
    .record({ base: baseArb, requestId: requestIdArb, index: uintArb })
    .map(({ base, ...rest }): Message<string> => ({ type: 'readIndexResp', ...base, ...rest })),
  baseArb.map((base): Message<string> => ({ type: 'timeoutNow', ...base })),
);

/** Every path to a value inside `value` (object keys and array indexes, not into bytes). */
function pathsIn(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value instanceof Uint8Array || typeof value !== 'object' || value === null) return [];
  const keys: (string | number)[] = Array.isArray(value)
    ? value.map((_, i) => i)
    : Object.keys(value);
  return keys.flatMap((k) => {
    const path = [...prefix, k];
    return [path, ...pathsIn((value as Plain)[k], path)];
  });
}

/** A deep copy of `value` with the value at `path` replaced, or deleted when `replacement` is absent. */
function mutate(value: unknown, path: (string | number)[], replacement?: { v: unknown }): unknown {
  const copy = structuredClone(value);
  let parent = copy as Plain;
  for (const k of path.slice(0, -1)) parent = parent[k] as Plain;
  const last = String(path.at(-1));
  if (replacement === undefined) delete parent[last];
  else parent[last] = replacement.v;
  return copy;
}

const anything = fc.anything({
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withObjectString: true,
  withNullPrototype: true,
  withBigInt: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  withUnicodeString: true,
});

// ---------------------------------------------------------------------------------------
// Well-formed messages pass unchanged.

test('every type of Raft message survives an encode and decode unchanged', () => {
  for (const type of messageTypes) {
    const message = examples[type];
    assert.deepEqual(decodeRaftMessage(encodeRaftMessage(message), isString), message, type);
  }
});

test('any well-formed message survives an encode and decode unchanged', () => {
  fc.assert(
    fc.property(messageArb, (message) => {
      assert.ok(wellFormed(message), 'the generator makes only well-formed messages');
      assert.deepEqual(decodeRaftMessage(encodeRaftMessage(message), isString), message);
    }),
    { numRuns: 500 },
  );
});

test('an append may carry exactly the maximum number of entries', () => {
  const entries = Array.from({ length: raftEntriesPerAppendMax }, (_, i) => ({
    index: 1 + i,
    term: 1,
    kind: 'noop',
  }));
  const parsed = accept({ ...append, prevIndex: 0, prevTerm: 0, entries });
  assert.equal(parsed.type === 'append' && parsed.entries.length, raftEntriesPerAppendMax);
});

test('a node id of the maximum length is accepted', () => {
  accept({ ...heartbeat, from: 'x'.repeat(raftNodeIdLengthMax) });
});

// ---------------------------------------------------------------------------------------
// Nothing but the known fields reaches Raft.

test('extra fields anywhere in a message are dropped from the result', () => {
  const entries = append.entries.map((e) => ({ ...e, extra: 1 }));
  const config = entries[2] as Plain;
  config['change'] = { ...(config['change'] as Plain), extra: 1 };
  config['membership'] = { ...membership, extra: 1 };
  assert.deepEqual(accept({ ...append, entries, extra: { deep: true } }), append);
  const withExtras = {
    ...snapshot,
    extra: 1,
    snapshot: {
      extra: 1,
      data: new Uint8Array([1, 2, 3]),
      meta: { index: 100, term: 4, membership: { ...membership, extra: 1 }, extra: 1 },
    },
  };
  assert.deepEqual(accept(withExtras), snapshot);
});

test('a __proto__ key in the input never reaches the result', () => {
  const json =
    '{"type":"heartbeat","from":"n1","to":"n2","term":5,"commit":9,"context":3,"granted":2,' +
    '"__proto__":{"polluted":true,"type":"append"}}';
  const raw: unknown = JSON.parse(json);
  for (const input of [raw, decodeRaftMessage(pack(raw), isString)]) {
    const parsed = accept(input);
    assert.deepEqual(parsed, heartbeat);
    assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
    assert.equal(Object.hasOwn(parsed, '__proto__'), false);
    assert.equal((parsed as unknown as Plain)['polluted'], undefined);
  }
});

test('a map must be a plain object; one with a null prototype will do', () => {
  refuse(Object.create(heartbeat), /must be a map/);
  const nullProto = Object.assign(Object.create(null) as Plain, heartbeat);
  assert.deepEqual(accept(nullProto), heartbeat);
});

test('a field planted on Object.prototype is not taken as sent', () => {
  Object.defineProperty(Object.prototype, 'context', { value: 3, configurable: true });
  try {
    refuse(withFields(heartbeat, { context: undefined }), /^heartbeat: context must be/);
  } finally {
    delete (Object.prototype as Plain)['context'];
  }
  assert.equal(({} as Plain)['context'], undefined);
});

test('snapshot bytes are copied out of the frame, so reusing the frame cannot change them', () => {
  const frame = encodeRaftMessage(snapshot);
  const parsed = decodeRaftMessage(frame, isString);
  assert.ok(!isBadRaftMessage(parsed) && parsed.type === 'snapshot');
  frame.fill(0);
  assert.deepEqual(parsed.snapshot.data, new Uint8Array([1, 2, 3]));
  assert.equal(Object.getPrototypeOf(parsed.snapshot.data), Uint8Array.prototype);
});

// ---------------------------------------------------------------------------------------
// Malformations are refused with a reason naming the field.

test('a message missing a field is refused, naming the field', () => {
  refuse(withFields(heartbeat, { context: undefined }), /^heartbeat: context must be/);
  refuse(withFields(vote, { transfer: undefined }), /^vote: transfer must be a boolean/);
  refuse(withFields(append, { entries: undefined }), /^append: entries must be an array/);
  refuse(withFields(readIndex, { requestId: undefined }), /^readIndex: requestId must be/);
  refuse(withFields(snapshot, { snapshot: undefined }), /^snapshot: snapshot must be a map/);
  refuse(withFields(examples.timeoutNow, { from: undefined }), /^timeoutNow: from must be/);
});

test('a field of the wrong type is refused, naming the field', () => {
  refuse({ ...examples.voteResp, reject: 'no' }, /^voteResp: reject must be a boolean/);
  refuse({ ...preVote, lastIndex: '10' }, /^preVote: lastIndex must be a non-negative integer/);
  refuse({ ...heartbeat, context: 1.5 }, /^heartbeat: context must be a non-negative integer/);
  refuse({ ...heartbeat, commit: 2 ** 53 }, /^heartbeat: commit must be a non-negative integer/);
  refuse({ ...heartbeat, to: 7 }, /^heartbeat: to must be a node id/);
  refuse({ ...readIndex, requestId: 1 }, /^readIndex: requestId must be a string/);
});

test('a negative term is refused, naming the field', () => {
  refuse({ ...preVote, term: -1 }, /^preVote: term must be a non-negative integer/);
  refuse({ ...preVote, lastTerm: -3 }, /^preVote: lastTerm must be a non-negative integer/);
});

test('an empty or overlong node id or request id is refused, naming the field', () => {
  refuse({ ...heartbeat, from: '' }, /^heartbeat: from must be a node id/);
  refuse({ ...heartbeat, from: 'x'.repeat(raftNodeIdLengthMax + 1) }, /^heartbeat: from must/);
  refuse(
    { ...readIndex, requestId: 'r'.repeat(raftRequestIdLengthMax + 1) },
    /^readIndex: requestId must be a string of at most 256 characters/,
  );
});

test('entries with a gap in their indexes are refused, naming the entry', () => {
  const [a, b] = append.entries;
  refuse({ ...append, entries: [a, { ...b, index: 10 }] }, /^append: entries\[1\]\.index must/);
});

test('entries that do not start right after prevIndex are refused, naming the entry', () => {
  refuse({ ...append, prevIndex: 6 }, /^append: entries\[0\]\.index must be 7/);
});

test('entry terms that decrease or pass the message term are refused, naming the entry', () => {
  const [a, b] = append.entries;
  refuse(
    {
      ...append,
      entries: [
        { ...a, term: 5 },
        { ...b, term: 4 },
      ],
    },
    /entries\[1\]\.term/,
  );
  refuse({ ...append, entries: [{ ...a, term: 6 }] }, /^append: entries\[0\]\.term must/);
  refuse({ ...append, prevTerm: 4 }, /^append: entries\[0\]\.term must be between 4/);
  refuse({ ...append, prevTerm: 6 }, /^append: prevTerm must be at most the message term 5/);
});

test('an entry of an unknown kind is refused, naming the entry', () => {
  const [a] = append.entries;
  refuse({ ...append, entries: [{ ...a, kind: 'weird' }] }, /^append: entries\[0\]\.kind must/);
  refuse({ ...append, entries: ['not an entry'] }, /^append: entries\[0\] must be a map/);
});

test('a normal entry whose payload isData refuses is refused, naming the entry', () => {
  const [a] = append.entries;
  refuse({ ...append, entries: [{ ...a, data: 42 }] }, /^append: entries\[0\]\.data must be/);
});

test('a config entry with a bad change or membership is refused, naming the field', () => {
  const config = append.entries[2] as Entry<string> & { kind: 'config' };
  const withConfig = (fields: Plain): Plain => ({
    ...append,
    entries: [...append.entries.slice(0, 2), { ...config, ...fields }],
  });
  refuse(
    withConfig({ change: { type: 'grow', node: 'n4' } }),
    /^append: entries\[2\]\.change\.type must be one of addVoter/,
  );
  refuse(
    withConfig({ change: { type: 'addLearner', node: '' } }),
    /^append: entries\[2\]\.change\.node must be a node id/,
  );
  refuse(
    withConfig({ membership: { voters: ['n2', 'n1'], learners: ['n4'] } }),
    /^append: entries\[2\]\.membership\.voters must be sorted ascending without repeats/,
  );
  refuse(
    withConfig({ membership: { voters: ['n1', 'n1'], learners: ['n4'] } }),
    /entries\[2\]\.membership\.voters must be sorted ascending without repeats/,
  );
  refuse(
    withConfig({ membership: { voters: ['n1', 'n4'], learners: ['n4'] } }),
    /entries\[2\]\.membership\.learners must be disjoint from voters/,
  );
  refuse(
    withConfig({ membership: { voters: ['n1', 3], learners: [] } }),
    /entries\[2\]\.membership\.voters\[1\] must be a node id/,
  );
  refuse(
    withConfig({ membership: { voters: ['n1'], learners: [] } }),
    /^append: entries\[2\]\.membership must be the result of change addLearner/,
  );
});

test('an oversized entries array is refused, naming the field', () => {
  const entries = Array.from({ length: raftEntriesPerAppendMax + 1 }, (_, i) => ({
    index: 1 + i,
    term: 1,
    kind: 'noop',
  }));
  refuse(
    { ...append, prevIndex: 0, prevTerm: 0, entries },
    /^append: entries must be an array of at most 10000 items/,
  );
});

test('an oversized membership is refused, naming the field', () => {
  const voters = Array.from({ length: raftMembershipNodesMax + 1 }, (_, i) =>
    `n${i}`.padStart(8, '0'),
  ).sort();
  const meta = { index: 100, term: 4, membership: { voters, learners: [] } };
  refuse(
    { ...snapshot, snapshot: { meta, data: new Uint8Array() } },
    /^snapshot: snapshot\.meta\.membership\.voters must be an array of at most/,
  );
});

test('snapshot data that is not a Uint8Array is refused, naming the field', () => {
  const meta = { index: 100, term: 4, membership };
  for (const data of [[1, 2, 3], 'bytes', null, new Uint16Array([1])]) {
    refuse(
      { ...snapshot, snapshot: { meta, data } },
      /^snapshot: snapshot\.data must be binary \(a Uint8Array\)/,
    );
  }
});

test('a snapshot with bad meta is refused, naming the field', () => {
  const data = new Uint8Array([1]);
  refuse({ ...snapshot, snapshot: { data } }, /^snapshot: snapshot\.meta must be a map/);
  refuse(
    { ...snapshot, snapshot: { data, meta: { index: 1, term: 6, membership } } },
    /^snapshot: snapshot\.meta\.term must be at most the message term 5/,
  );
  refuse(
    { ...snapshot, snapshot: { data, meta: { index: 1, term: 1 } } },
    /^snapshot: snapshot\.meta\.membership must be a map/,
  );
});

test('an unknown or missing type is refused, naming the field', () => {
  refuse({ ...heartbeat, type: 'gossip' }, /^message: type must be one of preVote/);
  refuse(withFields(heartbeat, { type: undefined }), /type must be one of/);
  refuse({ ...heartbeat, type: 'toString' }, /type must be one of/);
  refuse({ ...heartbeat, type: '__proto__' }, /type must be one of/);
});

test('a value that is not a map is refused', () => {
  for (const raw of [null, undefined, 5, 'append', [heartbeat], new Uint8Array(4), new Date(0)]) {
    refuse(raw, /must be a map/);
  }
});

test('bytes that are not MessagePack are refused as undecodable', () => {
  const result = decodeRaftMessage(Uint8Array.from([0x92, 0x01]), isString);
  assert.ok(isBadRaftMessage(result));
  assert.match(result.reason, /^undecodable Raft message/);
  const trailing = Uint8Array.from([...encodeRaftMessage(heartbeat), 0x01]);
  assert.ok(isBadRaftMessage(decodeRaftMessage(trailing, isString)));
});

// ---------------------------------------------------------------------------------------
// Nothing from the network makes it throw.

test('arbitrary values never make validation throw', () => {
  const nearlyMessages = fc.record({
    type: fc.constantFrom(...messageTypes),
    fields: fc.dictionary(
      fc.constantFrom(
        ...new Set(messageTypes.flatMap((t) => Object.keys(examples[t]))),
        'meta',
        'data',
        '__proto__',
      ),
      anything,
    ),
  });
  fc.assert(
    fc.property(
      fc.oneof(
        anything,
        nearlyMessages.map(({ type, fields }) => ({ ...fields, type })),
      ),
      (raw) => {
        const result = parseRaftMessage(raw, isString);
        assert.ok(isBadRaftMessage(result) ? result.reason.length > 0 : wellFormed(result));
      },
    ),
    { numRuns: 2_000 },
  );
});

test('random bytes never make decoding throw', () => {
  const corrupted = fc
    .tuple(messageArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }))
    .map(([message, flips]) => {
      const bytes = Uint8Array.from(encodeRaftMessage(message));
      for (const [at, byte] of flips) bytes[at % bytes.length] = byte;
      return bytes;
    });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), corrupted), (bytes) => {
      const result = decodeRaftMessage(bytes, isString);
      assert.ok(isBadRaftMessage(result) ? result.reason.length > 0 : wellFormed(result));
    }),
    { numRuns: 2_000 },
  );
});

// ---------------------------------------------------------------------------------------
// One field mutated: refused, or still well formed.

test('the structural re-check refuses planted malformations, so its approval means something', () => {
  assert.ok(messageTypes.every((t) => wellFormed(examples[t])));
  const [a, b] = append.entries;
  const planted: unknown[] = [
    { ...heartbeat, extra: 1 },
    { ...heartbeat, term: -1 },
    { ...append, entries: [a, { ...b, index: 10 }] },
    { ...append, entries: [{ ...a, term: 6 }] },
    { ...append, entries: [{ ...a, data: 1 }] },
    { ...snapshot, snapshot: { meta: { index: 1, term: 1, membership }, data: [1] } },
    {
      ...snapshot,
      snapshot: {
        meta: { index: 1, term: 1, membership: { voters: ['b', 'a'], learners: [] } },
        data: new Uint8Array(),
      },
    },
    { ...examples.timeoutNow, type: 'gossip' },
  ];
  for (const m of planted) assert.equal(wellFormed(m), false, JSON.stringify(m));
});

test('a message with one field mutated is either refused or still well formed', () => {
  const mutation = messageArb.chain((message) => {
    const paths = pathsIn(message);
    return fc.record({
      message: fc.constant(message),
      path: fc.constantFrom(...paths),
      replacement: fc.option(
        anything.map((v) => ({ v })),
        { nil: undefined },
      ),
    });
  });
  fc.assert(
    fc.property(mutation, ({ message, path, replacement }) => {
      const result = parseRaftMessage(mutate(message, path, replacement), isString);
      if (isBadRaftMessage(result)) assert.ok(result.reason.length > 0);
      else assert.ok(wellFormed(result), `accepted a malformed message: ${String(path)}`);
    }),
    { numRuns: 2_000 },
  );
});
