/**
 * The hand-written command encoder (protocol/command-encoder.ts) writes what msgpackr writes
 * for the same request: the same bytes where it encodes a field itself, the same decoded
 * request where it leaves an operand to msgpackr or drops a field the node ignores. And an
 * encoding it handed out stays as it was, whatever is encoded after it.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createPackr } from '../../src/core/msgpack.js';
import { Op, decodeRequest, encodeRequest, type CommandRequest } from '../../src/protocol/index.js';
import type { Command, PatchOp } from '../../src/store/types.js';
import { plainBytes } from './plain-bytes.js';

const packr = createPackr();

/** The request as msgpackr encodes it: every field of the command, then the envelope's. */
function msgpackrEncoding(request: CommandRequest): Uint8Array {
  const { op, ...fields } = request.command as Command & Record<string, unknown>;
  const all: Record<string, unknown> = { ...fields };
  if (request.seq !== undefined) all['seq'] = request.seq;
  if (request.ackedBelow !== undefined) all['acked'] = request.ackedBelow;
  if (request.epoch !== undefined) all['epoch'] = request.epoch;
  if (request.readFrom !== undefined) all['readFrom'] = request.readFrom;
  if (request.durability !== undefined) all['durability'] = request.durability;
  if (request.forward === true) all['forward'] = true;
  return packr.pack([Op[op], request.id, all]);
}

const number = fc.oneof(
  fc.constantFrom(0, -0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32),
  fc.constantFrom(-1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1),
  fc.constantFrom(2 ** 53 - 1, 0.5, -1.25, Number.NaN, Number.POSITIVE_INFINITY),
  fc.integer(),
  fc.double(),
);
const id = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const key = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }),
  fc.constantFrom(
    'k',
    'ключ',
    '\ud800',
    'a\udfffb',
    'x'.repeat(31),
    'x'.repeat(32),
    'y'.repeat(300),
  ),
  fc.string({ minLength: 250, maxLength: 70_000 }),
);
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.constantFrom(255, 256, 65_535, 65_536).map((n) => new Uint8Array(n).fill(7)),
);
const scalar = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', minLength: 100, maxLength: 300 }),
  number,
  fc.boolean(),
  fc.constant(null),
);
const operand = fc.oneof(
  scalar,
  fc.jsonValue(),
  fc.dictionary(fc.string(), scalar, { minKeys: 14, maxKeys: 40 }),
  // Long keys, small values: the keys must count in the room made for the encoding.
  fc.dictionary(fc.string({ minLength: 50, maxLength: 100 }), fc.constant(null), {
    minKeys: 14,
    maxKeys: 40,
  }),
  fc.array(scalar, { minLength: 14, maxLength: 40 }),
  // Not JSON as the stores make it: msgpackr's to encode.
  fc.constantFrom<unknown>(
    new Date(0),
    Object.assign(new Array<number>(3), { 0: 1, 2: 3 }),
    JSON.parse('{"__proto__": 1, "a": 2}'),
    Object.assign(Object.create(null) as object, { a: 1 }),
    { a: undefined },
    { cart: ['tea'], when: new Date(0) },
  ),
);

function patchOp(value: fc.Arbitrary<unknown>): fc.Arbitrary<PatchOp> {
  const path = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('cart', 'a.b.c', 'ключ'));
  return fc.oneof(
    fc.record({ op: fc.constant('set' as const), path, value }),
    fc.record({ op: fc.constant('unset' as const), path }),
    fc.record({ op: fc.constant('incr' as const), path, by: number }),
    fc.record({
      op: fc.constantFrom('add' as const, 'remove' as const),
      path,
      values: fc.array(value, { maxLength: 20 }),
    }),
  );
}

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constantFrom('get' as const, 'ttl' as const), key }),
  fc.record(
    {
      op: fc.constant('set' as const),
      key,
      value: bytes,
      ttlMs: number,
      keepTtl: fc.boolean(),
      ifVersion: number,
      ifAbsent: fc.boolean(),
    },
    { requiredKeys: ['op', 'key', 'value'] },
  ),
  fc.record(
    { op: fc.constant('delete' as const), key, ifVersion: number },
    {
      requiredKeys: ['op', 'key'],
    },
  ),
  fc.record({ op: fc.constant('touch' as const), key, ttlMs: number }),
  fc.record(
    { op: fc.constant('cas' as const), key, expected: bytes, value: bytes, ttlMs: number },
    { requiredKeys: ['op', 'key', 'expected', 'value'] },
  ),
  fc.record(
    {
      op: fc.constant('patch' as const),
      key,
      ops: fc.oneof(
        fc.array(patchOp(scalar), { maxLength: 20 }),
        fc.array(patchOp(operand), { maxLength: 8 }),
      ),
      ttlMs: number,
      ifVersion: number,
      create: fc.boolean(),
      returnValue: fc.boolean(),
    },
    { requiredKeys: ['op', 'key', 'ops'] },
  ),
);

const request: fc.Arbitrary<CommandRequest> = fc
  .record(
    {
      id,
      command,
      seq: number,
      ackedBelow: number,
      epoch: number,
      readFrom: fc.constantFrom('primary' as const, 'any' as const),
      durability: fc.constantFrom('sync' as const, 'async' as const),
      forward: fc.boolean(),
    },
    { requiredKeys: ['id', 'command'] },
  )
  .map((fields): CommandRequest => ({ kind: 'command', ...fields }));

test('property: a command request is encoded byte for byte as msgpackr encodes it', () => {
  fc.assert(
    fc.property(request, (r) => {
      assert.deepStrictEqual(Array.from(encodeRequest(r)), Array.from(msgpackrEncoding(r)));
    }),
    { numRuns: 1_000 },
  );
});

test('property: a command request decodes on the node as its msgpackr encoding does', () => {
  fc.assert(
    fc.property(request, (r) => {
      assert.deepStrictEqual(
        plainBytes(decodeRequest(encodeRequest(r))),
        plainBytes(decodeRequest(msgpackrEncoding(r))),
      );
    }),
    { numRuns: 1_000 },
  );
});

/** A patch of one operation, taken as given (the two tests below give what the type forbids). */
function patchRequest(op: object): CommandRequest {
  return {
    kind: 'command',
    id: 9,
    command: { op: 'patch', key: 'shop:s1', ops: [op as PatchOp] },
  };
}

test('fields of a patch operation that the node ignores are not sent, and it decodes the same', () => {
  const r = patchRequest({ op: 'add', path: 'cart', values: ['tea:u1'], note: 'extra' });
  const encoded = encodeRequest(r);
  assert.ok(encoded.length < msgpackrEncoding(r).length);
  assert.deepStrictEqual(
    plainBytes(decodeRequest(encoded)),
    plainBytes(decodeRequest(msgpackrEncoding(r))),
  );
});

test('an operation the node does not know goes to the node as written, to be refused there', () => {
  const r = patchRequest({ op: 'append', path: 'cart', values: ['x'] });
  assert.deepStrictEqual(Array.from(encodeRequest(r)), Array.from(msgpackrEncoding(r)));
  assert.match(JSON.stringify(decodeRequest(encodeRequest(r))), /op must be one of/);
});

test('an encoding stays as it was while thousands more are made after it', () => {
  const made: { view: Uint8Array; copy: number[] }[] = [];
  for (let i = 0; i < 5_000; i++) {
    const value = new Uint8Array(i % 7 === 0 ? 6_000 : i % 300).fill(i & 0xff);
    const view = encodeRequest({
      kind: 'command',
      id: i,
      command: { op: 'set', key: `key-${i}`, value },
      seq: i,
    });
    made.push({ view, copy: Array.from(view) });
  }
  for (const { view, copy } of made) assert.deepStrictEqual(Array.from(view), copy);
});
