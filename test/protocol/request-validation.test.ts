import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { decodeRequest, encodeRequest, isBadMessage, Op } from '../../src/protocol/index.js';
import type { Request } from '../../src/protocol/index.js';

function bad(body: Uint8Array): { id: number | null; message: string } {
  const decoded = decodeRequest(body);
  assert.ok(isBadMessage(decoded), `expected a bad message, got ${JSON.stringify(decoded)}`);
  return decoded;
}

test('every kind of request survives an encode and decode unchanged', () => {
  const requests: Request[] = [
    { kind: 'hello', id: 1, protocol: 1, client: 'c', clientId: 'x', token: 't' },
    { kind: 'ping', id: 2 },
    { kind: 'table', id: 3 },
    { kind: 'command', id: 4, command: { op: 'get', key: 'k' }, epoch: 3, readFrom: 'any' },
    {
      kind: 'command',
      id: 5,
      command: {
        op: 'set',
        key: 'k',
        value: new Uint8Array([1, 2]),
        ttlMs: 10,
        ifVersion: 0,
        ifAbsent: true,
        keepTtl: false,
      },
      seq: 9,
      durability: 'async',
    },
    { kind: 'command', id: 6, command: { op: 'delete', key: 'k', ifVersion: 4 }, seq: 1 },
    { kind: 'command', id: 7, command: { op: 'touch', key: 'k', ttlMs: 5 } },
    {
      kind: 'command',
      id: 8,
      command: { op: 'cas', key: 'k', expected: new Uint8Array([1]), value: new Uint8Array([2]) },
    },
    {
      kind: 'command',
      id: 9,
      command: {
        op: 'patch',
        key: 'k',
        ops: [
          { op: 'set', path: 'a.b', value: { x: 1 } },
          { op: 'unset', path: 'c' },
          { op: 'incr', path: 'n', by: -2.5 },
          { op: 'add', path: 's', values: [1, 'two'] },
          { op: 'remove', path: 's', values: [1] },
        ],
        create: false,
        returnValue: true,
      },
    },
    { kind: 'command', id: 0xffffffff, command: { op: 'ttl', key: 'k' } },
    { kind: 'command', id: 10, command: { op: 'get', key: 'k' }, forward: true },
    { kind: 'forward', id: 11, clientId: 'c', request: new Uint8Array([0x93, 0x0a, 0x01, 0x80]) },
    { kind: 'forwarded', id: 0, reply: new Uint8Array([0x93, 0x0b, 0x00, 0xc0]) },
    { kind: 'acceptLoss', id: 12 },
    { kind: 'acceptLoss', id: 13, partitions: [0, 7] },
  ];
  // Buffers and Uint8Arrays with the same bytes are the same value on the wire.
  const plain = (v: unknown): unknown =>
    v instanceof Uint8Array
      ? [...v]
      : Array.isArray(v)
        ? v.map(plain)
        : typeof v === 'object' && v !== null
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
          : v;
  for (const request of requests) {
    assert.deepEqual(plain(decodeRequest(encodeRequest(request))), plain(request));
  }
});

test('bytes that are not MessagePack are a bad message without an id', () => {
  assert.equal(bad(Buffer.from([0x92, 0x01])).id, null);
});

test('an unknown operation is refused by name, keeping the request id', () => {
  const result = bad(pack([99, 42, {}]));
  assert.equal(result.id, 42);
  assert.match(result.message, /unknown operation 99/);
});

test('a wrong field type names the operation and the field', () => {
  const result = bad(pack([Op.set, 7, { key: 'k', value: 'not-bytes' }]));
  assert.equal(result.id, 7);
  assert.match(result.message, /set: field 'value' must be binary/);
});

test('a forward flag that is not a boolean is refused', () => {
  assert.match(bad(pack([Op.get, 3, { key: 'k', forward: 1 }])).message, /forward/);
});

test('a forwarded command must carry the client id and the encoded request', () => {
  assert.match(bad(pack([Op.forward, 4, { request: new Uint8Array(1) }])).message, /clientId/);
  assert.match(bad(pack([Op.forward, 4, { clientId: 'c', request: 'x' }])).message, /request/);
  assert.match(bad(pack([Op.forwarded, 0, {}])).message, /reply/);
});

test('accept-loss names partitions as an array of partition numbers', () => {
  assert.match(bad(pack([Op.acceptLoss, 1, { partitions: [1, -2] }])).message, /partitions/);
  assert.match(bad(pack([Op.acceptLoss, 1, { partitions: 3 }])).message, /partitions/);
});

test('a negative ttl is refused', () => {
  assert.match(bad(pack([Op.touch, 1, { key: 'k', ttlMs: -5 }])).message, /ttlMs/);
});

test('a request id outside 32 bits is refused', () => {
  assert.equal(bad(pack([Op.ping, 2 ** 32])).id, null);
});

test('a patch operation of an unknown kind is refused', () => {
  assert.match(
    bad(pack([Op.patch, 1, { key: 'k', ops: [{ op: 'explode', path: 'a' }] }])).message,
    /ops\[0\]\.op/,
  );
});

test('decoding arbitrary bytes never throws', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      decodeRequest(bytes);
    }),
    { numRuns: 5_000 },
  );
});

test('decoding arbitrary MessagePack values never throws', () => {
  fc.assert(
    fc.property(fc.anything(), (value) => {
      let body: Uint8Array;
      try {
        body = pack(value);
      } catch {
        return;
      }
      decodeRequest(body);
    }),
    { numRuns: 2_000 },
  );
});

test('a peer hello or a join whose member id, name or address is over 256 characters is malformed', () => {
  const long = 'x'.repeat(257);
  const hello = {
    kind: 'peerHello',
    id: 0,
    protocol: 2,
    memberId: 'n1~a',
    address: '127.0.0.1:1',
    clusterId: null,
  } as const;
  assert.ok(!isBadMessage(decodeRequest(encodeRequest(hello))));
  assert.ok(isBadMessage(decodeRequest(encodeRequest({ ...hello, memberId: long }))));
  assert.ok(isBadMessage(decodeRequest(encodeRequest({ ...hello, address: long }))));
  const join = {
    kind: 'join',
    id: 1,
    name: 'n2',
    memberId: 'n2~b',
    address: '127.0.0.1:2',
    clusterId: null,
  } as const;
  assert.ok(!isBadMessage(decodeRequest(encodeRequest(join))));
  for (const field of ['name', 'memberId', 'address', 'zone'] as const) {
    assert.ok(isBadMessage(decodeRequest(encodeRequest({ ...join, [field]: long }))), field);
  }
});

test('a frame too deep to decode is refused on the id its header names, whatever the id width', () => {
  const deep = Buffer.concat([Buffer.alloc(20_000, 0x91), Buffer.from([0x00])]);
  for (const [idBytes, id] of [
    [[7], 7],
    [[0xcc, 200], 200],
    [[0xcd, 0x01, 0x2c], 300],
    [[0xce, 0x00, 0x01, 0x11, 0x70], 70_000],
  ] as const) {
    const decoded = decodeRequest(Buffer.concat([Buffer.from([0x93, Op.patch, ...idBytes]), deep]));
    assert.ok(isBadMessage(decoded));
    assert.equal(decoded.id, id);
  }
  // A header that cannot be read names no request.
  const unreadable = decodeRequest(Buffer.concat([Buffer.from([0x93, 0xd0]), deep]));
  assert.ok(isBadMessage(unreadable));
  assert.equal(unreadable.id, null);
});
