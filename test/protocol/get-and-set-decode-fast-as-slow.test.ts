/**
 * The fast path for get and set requests (protocol/codec.ts, decodeCommandFast) answers
 * exactly as the general decoder does, for every request it takes and every byte string it
 * is given: it only takes a shortcut, never a decision of its own.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { decodeRequest, encodeRequest, type Request } from '../../src/protocol/index.js';
import { decodeRequestSlow } from '../../src/protocol/codec.js';
import { plainBytes } from './plain-bytes.js';

function sameAnswer(body: Uint8Array): void {
  assert.deepStrictEqual(plainBytes(decodeRequest(body)), plainBytes(decodeRequestSlow(body)));
}

const uint = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1),
  fc.nat(),
);
const key = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', 'k', 'ключ', 'a'.repeat(300)),
);
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.option(arb, { nil: undefined });

const getOrSet: fc.Arbitrary<Request> = fc
  .record({
    id: fc.oneof(uint, fc.constant(2 ** 32 - 1)),
    set: fc.boolean(),
    key,
    value: fc.uint8Array({ maxLength: 70_000 }),
    ttlMs: optional(uint),
    keepTtl: optional(fc.boolean()),
    ifVersion: optional(uint),
    ifAbsent: optional(fc.boolean()),
    seq: optional(uint),
    ackedBelow: optional(uint),
    epoch: optional(uint),
    readFrom: optional(fc.constantFrom('primary' as const, 'any' as const)),
    durability: optional(fc.constantFrom('sync' as const, 'async' as const)),
    forward: optional(fc.boolean()),
  })
  .map((r) => ({
    kind: 'command',
    id: r.id % 2 ** 32,
    command: r.set
      ? {
          op: 'set',
          key: r.key,
          value: r.value,
          ...(r.ttlMs !== undefined && { ttlMs: r.ttlMs }),
          ...(r.keepTtl !== undefined && { keepTtl: r.keepTtl }),
          ...(r.ifVersion !== undefined && { ifVersion: r.ifVersion }),
          ...(r.ifAbsent !== undefined && { ifAbsent: r.ifAbsent }),
        }
      : { op: 'get', key: r.key },
    ...(r.seq !== undefined && { seq: r.seq }),
    ...(r.ackedBelow !== undefined && { ackedBelow: r.ackedBelow }),
    ...(r.epoch !== undefined && { epoch: r.epoch }),
    ...(r.readFrom !== undefined && { readFrom: r.readFrom }),
    ...(r.durability !== undefined && { durability: r.durability }),
    ...(r.forward !== undefined && { forward: r.forward }),
  }));

test('property: gets and sets decode to what the general decoder makes of them', () => {
  fc.assert(
    fc.property(getOrSet, (request) => {
      const body = encodeRequest(request);
      sameAnswer(body);
      assert.equal((decodeRequest(body) as { kind: string }).kind, 'command');
    }),
    { numRuns: 2_000 },
  );
});

test('property: a get or set with bytes changed, cut or added decodes as the general decoder says', () => {
  fc.assert(
    fc.property(
      getOrSet,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
      fc.uint8Array({ maxLength: 3 }),
      (request, edits, cut, extra) => {
        const bytes = Uint8Array.from(encodeRequest(request));
        for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
        sameAnswer(bytes);
        sameAnswer(bytes.subarray(0, cut % (bytes.length + 1)));
        sameAnswer(Uint8Array.from([...bytes, ...extra]));
      },
    ),
    { numRuns: 2_000 },
  );
});

test('property: odd but valid encodings of the fields decode as the general decoder says', () => {
  const value = fc.oneof(
    fc.constantFrom<unknown>(null, undefined, -1, 1.5, 2 ** 40, 'any', 'sync', true, {}, []),
    fc.anything(),
    fc.uint8Array({ maxLength: 4 }),
  );
  const names = fc.constantFrom(
    'key',
    'value',
    'ttlMs',
    'keepTtl',
    'ifVersion',
    'ifAbsent',
    'seq',
    'acked',
    'epoch',
    'readFrom',
    'durability',
    'forward',
    '__proto__',
    'other',
  );
  fc.assert(
    fc.property(
      fc.constantFrom(10, 11),
      uint,
      fc.dictionary(names, value, { maxKeys: 16 }),
      (op, id, fields) => {
        let body: Uint8Array;
        try {
          body = pack([op, id, fields]);
        } catch {
          return;
        }
        sameAnswer(body);
      },
    ),
    { numRuns: 3_000 },
  );
});
